"""receipts_docqa: a rendered receipt (3-4 priced items and a TOTAL line) with questions
that need reading a line, finding a value by its label, or the reverse lookup.
"""

from __future__ import annotations

import random
from functools import partial

from PIL import Image, ImageDraw

from ..base import IMAGE_SIZE, Draft, SyntheticDataset, TaskType, register
from ..metrics import Metric
from .render import draw_text, pick, seed_of, text_size

ITEMS = (
    "TEA", "COFFEE", "BREAD", "MILK", "EGGS", "RICE", "SOUP", "CAKE", "JAM", "SALT",
    "BEER", "WINE", "FISH", "BEEF", "PASTA", "APPLE", "PEAR", "PLUM", "LEMON", "MANGO",
    "HONEY", "BUTTER", "CHEESE", "TOFU", "CORN", "BEANS", "OATS", "FLOUR", "SUGAR", "NUTS",
    "SODA", "JUICE", "WATER", "CANDY", "MINT", "SALAD", "PIZZA", "BAGEL", "DONUT", "GRAPES",
    "KIWI", "MELON", "ONION", "GARLIC", "PEPPER", "YOGURT",
)  # fmt: skip
_HEADERS = ("RECEIPT", "STORE", "MARKET", "CAFE", "SHOP", "DELI", "BAKERY", "KIOSK")

_PRICE_OF = (
    "What is the price of {item}?",
    "How much does {item} cost?",
    "How much is the {item} on this receipt?",
    "What does the receipt charge for {item}?",
)
_TOTAL = (
    "What is the total?",
    "What is the total amount?",
    "How much is the total on the receipt?",
    "What is the grand total of this receipt?",
)
_ITEM_COSTING = (
    "Which item costs {price}?",
    "What item has a price of {price}?",
    "Which product on the receipt is {price}?",
    "What was bought for {price}?",
)


def money(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"


def _widest_line(lines: list[tuple[str, int]], size: int) -> int:
    return max(text_size(item, size)[0] + text_size(money(cents), size)[0] for item, cents in lines)


def _paint(header: str, lines: list[tuple[str, int]], total: int, seed: int) -> Image.Image:
    rng = random.Random(seed)
    table = tuple(rng.randint(110, 190) for _ in range(3))
    image = Image.new("RGB", (IMAGE_SIZE, IMAGE_SIZE), table)
    draw = ImageDraw.Draw(image)
    x0, y0 = rng.randint(1, 5), rng.randint(0, 3)
    x1, y1 = IMAGE_SIZE - rng.randint(1, 5), IMAGE_SIZE - rng.randint(0, 3)
    paper = tuple(rng.randint(238, 255) for _ in range(3))
    draw.rectangle((x0, y0, x1, y1), fill=paper)
    ink = tuple(rng.randint(0, 45) for _ in range(3))
    left, right = x0 + rng.randint(3, 5), x1 - rng.randint(3, 5)
    size = rng.choice((11, 11, 12))
    while size > 10 and _widest_line(lines, size) + 4 > right - left:  # no label/price collision
        size -= 1
    rows = len(lines) + 3  # header, items, rule, total
    pitch = min(size + 4, (y1 - y0 - 4) // rows)
    y = y0 + 2 + rng.randint(0, max(0, (y1 - y0 - 4) - rows * pitch))
    draw_text(draw, ((left + right) / 2, y), header, size - 1, ink, anchor="ma")
    for item, cents in lines:
        y += pitch
        draw_text(draw, (left, y), item, size, ink)
        draw_text(draw, (right, y), money(cents), size, ink, anchor="ra")
    y += pitch
    rule_y = y + pitch // 2
    for x in range(left, right, 4):  # a dashed rule above the total
        draw.line((x, rule_y, x + 1, rule_y), fill=ink)
    y += pitch
    draw_text(draw, (left, y), "TOTAL", size, ink)
    draw_text(draw, (right, y), money(total), size, ink, anchor="ra")
    return image


@register
class ReceiptsDocQa(SyntheticDataset):
    name = "receipts_docqa"
    task_type = TaskType.DOC_QA
    metric = Metric.ANLS
    skill = "read a receipt: a value by its label, the total, or the label of a value"

    def draft(self, rng: random.Random) -> Draft:
        n = rng.choice((3, 4))
        items = rng.sample(ITEMS, n)
        prices = rng.sample(range(5, 2000, 5), n)  # distinct, 0.05 .. 19.95
        lines = list(zip(items, prices, strict=True))
        total = sum(prices)
        kind = rng.choices(("price_of", "total", "item_costing"), weights=(45, 20, 35))[0]
        target_item, target_price = lines[rng.randrange(n)]
        if kind == "price_of":
            prompt = pick(rng, _PRICE_OF).format(item=target_item)
            question, answer = f"price_of:{target_item}", money(target_price)
        elif kind == "total":
            prompt = pick(rng, _TOTAL)
            question, answer = "total", money(total)
        else:
            prompt = pick(rng, _ITEM_COSTING).format(price=money(target_price))
            question, answer = f"item_costing:{money(target_price)}", target_item.lower()
        header = pick(rng, _HEADERS)
        content = ";".join(f"{item}={money(c)}" for item, c in lines)
        key = f"{self.name}|{header}|{content}|{question}|{answer}"
        paint = partial(_paint, header, lines, total, seed_of(rng))
        return Draft(key=key, prompt=prompt, answers=(answer,), paint=paint)

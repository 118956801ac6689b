"""Word lists and request frames for the detector's paraphrase generator.

Nothing here comes from a suite: synonyms and politeness are general English, the foreign
words cover six languages, and the frames say what a request of each task type looks like
in any benchmark of that type (VQA asks about objects, captioning asks for a description,
document QA asks about a receipt, form or chart, multiple choice lists lettered options,
exact match asks for a string copied character for character, scene-text QA asks what a
sign or label in a scene says). The generator holds out part of every list for validation
(`detector_paraphrase.split_of`), so the threshold is chosen on wording never fitted.
"""

from __future__ import annotations

# Groups of interchangeable phrases; a phrase found in a prompt may become any other of
# its group. A phrase that would change the task type (e.g. "text": a sign's or a code's)
# is left out.
SYNONYMS: tuple[tuple[str, ...], ...] = (
    ("what is", "what's", "whats", "what would be"),
    ("colour", "color", "hue", "shade"),
    ("image", "picture", "photo", "pic", "photograph", "scene", "img"),
    ("shown", "displayed", "visible", "depicted", "present"),
    ("written", "printed", "typed", "inscribed"),
    ("tell me", "give me", "show me", "let me know", "state"),
    ("how many", "what number of", "how many total"),
    ("describe", "explain", "summarise", "summarize", "sketch in words", "portray", "narrate"),
    ("caption", "description", "summary", "alt text", "one-line description"),
    ("code", "string", "serial", "identifier", "password", "character sequence", "id"),
    ("box", "frame", "rectangle", "bordered box", "outline", "panel", "border"),
    (
        "exactly",
        "verbatim",
        "precisely",
        "character for character",
        "as written",
        "letter by letter",
    ),
    ("transcribe", "copy", "type", "write out", "reproduce", "spell out", "copy out"),
    ("sign", "signboard", "board", "banner", "placard", "billboard", "notice", "plaque"),
    ("say", "read", "show", "display"),
    ("receipt", "bill", "invoice", "till slip", "check", "sales slip"),
    ("price", "cost", "charge", "amount"),
    ("total", "grand total", "sum", "amount due", "final amount", "balance"),
    ("chart", "graph", "plot", "bar chart", "diagram", "figure", "bar graph"),
    ("bar", "column"),
    ("value", "number", "reading"),
    ("highest", "tallest", "largest", "biggest", "greatest", "maximum"),
    ("lowest", "shortest", "smallest", "least", "minimum"),
    ("difference", "gap", "margin"),
    ("option", "choice", "answer"),
    ("correct", "right", "true", "best"),
    ("choose", "pick", "select", "mark", "circle"),
    ("shape", "object", "thing"),
    ("above", "over", "on top of"),
    ("below", "under", "beneath", "underneath"),
    ("kind of", "type of", "sort of"),
    ("the", "this", "that"),
)

PREFIXES: tuple[str, ...] = (
    "please", "could you tell me", "can you tell me", "would you tell me", "kindly",
    "hey,", "hi!", "quick question:", "i want to know", "i'd like to know", "tell me,",
    "help me:", "so", "ok so", "question:", "q:", "i need to know", "excuse me,",
    "hello, ", "yo", "one more:", "i wonder", "do you know", "any idea", "task:",
    "i was wondering", "sorry,", "listen,", "dear assistant,", "um",
)  # fmt: skip
SUFFIXES: tuple[str, ...] = (
    "please", "thanks", "thank you", "pls", "thx", "asap", "if you can", "for me",
    "quickly", "briefly", "in short", "cheers", "ty", "please answer", "now", "again",
    "i'm curious", "if possible", "many thanks", "kthx",
)  # fmt: skip

# English word -> one word per language: de, fr, es, it, pt, nl. Fitting and validation
# see different languages (split_of), so validation measures an unseen language's words.
LANGUAGES = ("de", "fr", "es", "it", "pt", "nl")
FOREIGN: dict[str, tuple[str, ...]] = {
    "what": ("was", "quoi", "qué", "cosa", "o que", "wat"),
    "which": ("welche", "quel", "cuál", "quale", "qual", "welke"),
    "colour": ("farbe", "couleur", "color", "colore", "cor", "kleur"),
    "color": ("farbe", "couleur", "color", "colore", "cor", "kleur"),
    "how many": ("wie viele", "combien", "cuántos", "quanti", "quantos", "hoeveel"),
    "how much": ("wie viel", "combien", "cuánto", "quanto", "quanto", "hoeveel"),
    "sign": ("schild", "panneau", "letrero", "cartello", "placa", "bord"),
    "image": ("bild", "image", "imagen", "immagine", "imagem", "afbeelding"),
    "picture": ("bild", "photo", "foto", "foto", "foto", "foto"),
    "describe": ("beschreibe", "décris", "describe", "descrivi", "descreva", "beschrijf"),
    "price": ("preis", "prix", "precio", "prezzo", "preço", "prijs"),
    "total": ("gesamt", "total", "total", "totale", "total", "totaal"),
    "code": ("code", "code", "código", "codice", "código", "code"),
    "read": ("lies", "lis", "lee", "leggi", "leia", "lees"),
    "write": ("schreib", "écris", "escribe", "scrivi", "escreva", "schrijf"),
    "the": ("der", "le", "el", "il", "o", "de"),
    "is": ("ist", "est", "es", "è", "é", "is"),
    "box": ("kasten", "boîte", "caja", "riquadro", "caixa", "vak"),
    "copy": ("kopiere", "copie", "copia", "copia", "copie", "kopieer"),
    "exactly": ("genau", "exactement", "exactamente", "esattamente", "exatamente", "precies"),
    "answer": ("antwort", "réponse", "respuesta", "risposta", "resposta", "antwoord"),
    "option": ("option", "option", "opción", "opzione", "opção", "optie"),
    "choose": ("wähle", "choisis", "elige", "scegli", "escolha", "kies"),
    "please": ("bitte", "s'il te plaît", "por favor", "per favore", "por favor", "alsjeblieft"),
    "chart": ("diagramm", "graphique", "gráfico", "grafico", "gráfico", "grafiek"),
    "bar": ("balken", "barre", "barra", "barra", "barra", "staaf"),
    "receipt": ("quittung", "reçu", "recibo", "scontrino", "recibo", "bon"),
    "word": ("wort", "mot", "palabra", "parola", "palavra", "woord"),
    "say": ("sagt", "dit", "dice", "dice", "diz", "zegt"),
    "written": ("geschrieben", "écrit", "escrito", "scritto", "escrito", "geschreven"),
    "shape": ("form", "forme", "forma", "forma", "forma", "vorm"),
    "caption": ("bildunterschrift", "légende", "leyenda", "didascalia", "legenda", "bijschrift"),
    "on": ("auf", "sur", "en", "su", "em", "op"),
    "in": ("in", "dans", "en", "in", "em", "in"),
    "cost": ("kostet", "coûte", "cuesta", "costa", "custa", "kost"),
}

COLORS = (
    "red", "blue", "green", "yellow", "orange", "purple", "pink", "white", "black", "grey",
    "gray", "brown", "violet", "cyan", "teal", "navy", "beige", "gold", "silver", "magenta",
)  # fmt: skip
FOREIGN_COLORS = (
    "rot", "blau", "grün", "gelb", "schwarz", "weiß", "rouge", "bleu", "vert", "jaune",
    "noir", "blanc", "rojo", "azul", "verde", "amarillo", "negro", "blanco", "rosso", "blu",
    "giallo", "nero", "bianco", "vermelho", "amarelo", "preto", "branco", "rood", "blauw",
    "groen", "geel", "zwart", "wit",
)  # fmt: skip
NUMBER_WORDS = (
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
)  # fmt: skip
OBJECTS = (
    "circle", "square", "triangle", "star", "heart", "ring", "cross", "diamond", "hexagon",
    "oval", "ball", "cup", "car", "dog", "cat", "tree", "person", "chair", "bottle", "bird",
    "apple", "box", "block", "dot", "arrow", "moon", "cloud", "flower", "kite", "boat",
)  # fmt: skip
ITEMS = (
    "KALE", "TACO", "LATTE", "SCONE", "BAGUETTE", "MUFFIN", "NOODLES", "RAMEN", "PRAWNS",
    "CHIPS", "GUM", "FLAN", "PEAS", "TUNA", "HAM", "LEEKS", "FIGS", "DATES", "CREAM", "TAX",
)  # fmt: skip
SIGN_WORDS = (
    "open", "exit", "cafe", "hotel", "bank", "pharmacy", "bakery", "florist", "gym",
    "parking", "library", "station", "market", "diner", "motel", "arcade", "garage",
    "theatre", "zoo", "post",
)  # fmt: skip

# Request frames per task type. Slots: {color} {obj} {objs} {ITEM} {price} {L} {M} {n}
# {word} {opts} (an option list in one of several layouts, see detector_paraphrase).
FRAMES: dict[str, tuple[str, ...]] = {
    "vqa": (
        "what {color} thing is next to the {obj}?",
        "how many {objs} are there?",
        "is there a {obj} in the image?",
        "is the {obj} {color}?",
        "count the {objs}",
        "which {obj} is on the left?",
        "what is the {color} object?",
        "what colour is the {obj} on the right?",
        "are there any {color} {objs}?",
        "where is the {obj}?",
        "what is above the {obj}?",
        "how many {color} things do you see?",
        "which shape is the biggest?",
        "what colour are the {objs}?",
        "is the {obj} left of the {obj}?",
        "what object is at the bottom?",
        "how many objects are {color}?",
        "name the {color} shape",
        "what is the shape of the {color} one?",
        "is there more than {n} {objs}?",
        "what is between the {obj} and the {obj}?",
        "which one is {color}?",
        "what is the {obj} made of?",
        "what size is the {obj}?",
        "does the {obj} look {color}?",
    ),
    "captioning": (
        "describe the image",
        "write a caption for it",
        "what is happening in this picture?",
        "give a one-sentence description",
        "describe this scene in detail",
        "caption the photo",
        "summarise what you see",
        "write alt text for the image",
        "describe the picture briefly",
        "what does the scene look like?",
        "provide a caption for this image",
        "tell me what the image shows",
        "generate a short description",
        "write one line about this photo",
        "describe everything in the picture",
        "describe the image for a blind user",
        "what is this image about?",
        "give this photo a caption",
        "caption, please",
        "describe what is going on",
        "a short description of the scene, please",
        "describe the objects and where they are",
        "write a sentence about the picture",
    ),
    "doc_qa": (
        "what is the total on the receipt?",
        "how much does {ITEM} cost?",
        "what is the price of {ITEM}?",
        "which item costs {price}?",
        "what is the amount due?",
        "what is the value of bar {L}?",
        "which bar is the highest?",
        "which bar is the lowest?",
        "what is the difference between {L} and {M}?",
        "how much more is {L} than {M}?",
        "what does the chart show for {L}?",
        "what is the tax on this bill?",
        "what is the date on the invoice?",
        "how much was paid for {ITEM}?",
        "which category has the largest value?",
        "what is the subtotal?",
        "according to the document, what is the total?",
        "what number is listed for {ITEM}?",
        "which product was {price}?",
        "what does the form say under total?",
        "what is the largest value in the graph?",
        "what is the sum of {L} and {M}?",
        "what value is plotted for {L}?",
        "how much is {ITEM} on the invoice?",
        "what is the height of bar {L}?",
        "which label has the smallest bar?",
        "what is written in the total field of the document?",
        "what is the price per unit?",
    ),
    "multiple_choice": (
        "what colour is the {obj}? {opts}",
        "which shape is {color}? {opts}",
        "how many {objs} are there? {opts}",
        "{opts} which one is correct?",
        "choose the right answer. {opts}",
        "pick one: {opts}",
        "question: {obj}? {opts} answer:",
        "which option is true? {opts}",
        "select the correct choice: {opts}",
        "{opts} reply with the letter",
        "what is the {color} object? {opts} choose one",
        "answer with a single letter. {opts}",
        "which of the following is right? {opts}",
        "where is the {obj}? {opts}",
        "the {obj} is: {opts}",
        "options: {opts}",
        "is it {opts}?",
        "mark the correct letter: {opts}",
        "choose from {opts}",
    ),
    "exact_match": (
        "transcribe the code",
        "copy the characters exactly",
        "type out the string",
        "what is the exact code in the box?",
        "write down the code verbatim",
        "reproduce the text in the frame character for character",
        "spell out the code",
        "what characters are in the box?",
        "copy the serial number exactly as shown",
        "enter the code shown",
        "read the code exactly",
        "what is the password shown?",
        "what is the exact string?",
        "transcribe the boxed characters, keep the case",
        "give the code exactly",
        "type the characters you see in the rectangle",
        "copy the id exactly",
        "what code is printed in the frame?",
        "write out the characters one by one",
        "what are the exact letters and digits?",
        "transcribe it exactly, case-sensitive",
        "copy the alphanumeric code",
    ),
    "scene_text_qa": (
        "what does that sign say?",
        "what is written on the {color} sign?",
        "which sign says {word}?",
        "what colour is the sign that reads {word}?",
        "read the text on the {color} board",
        "what word is on the banner?",
        "what does the {color} signboard read?",
        "what is the name on the shop sign?",
        "what text is on the {color} sign?",
        "which word does the {color} sign show?",
        "what is written on the poster?",
        "what brand is on the sign?",
        "what does the label on the bottle say?",
        "what does the street sign read?",
        "which colour sign has {word} on it?",
        "what is the word on the {color} plate?",
        "read the {color} sign",
        "what is printed on the billboard?",
        "what is the shop called?",
        "what name does the storefront show?",
        "what does the writing on the {color} sign say?",
        "which sign reads '{word}'?",
    ),
}

# Option-list layouts for multiple-choice frames and for re-laying a prompt's own options.
OPTION_LAYOUTS: tuple[str, ...] = (
    "A. {a} B. {b} C. {c} D. {d}", "(A) {a} (B) {b} (C) {c} (D) {d}",
    "A) {a} B) {b} C) {c} D) {d}", "a) {a} b) {b} c) {c} d) {d}",
    "A: {a}, B: {b}, C: {c}, D: {d}", "A {a} B {b} C {c} D {d}",
    "A. {a}\nB. {b}\nC. {c}\nD. {d}", "(a) {a} (b) {b} (c) {c} (d) {d}",
    "A - {a}, B - {b}, C - {c}, D - {d}", "options: A. {a} B. {b} C. {c} D. {d}",
    "choices: (A) {a}, (B) {b}, (C) {c}, (D) {d}", "A) {a} / B) {b} / C) {c} / D) {d}",
    "a. {a} b. {b} c. {c} d. {d}", "[A] {a} [B] {b} [C] {c} [D] {d}",
)  # fmt: skip
OPTION_INSTRUCTIONS: tuple[str, ...] = (
    "answer with the letter.", "reply with just the letter", "pick one.",
    "choose the correct option.", "only the option letter, please", "which option is correct?",
    "select the right choice.", "respond with a, b, c or d.", "give the letter of the answer.",
    "one letter only", "which letter?", "choose a, b, c or d.",
)  # fmt: skip
COMMAND_VERBS: tuple[str, ...] = (
    "tell me", "give me", "name", "state", "find", "identify", "report", "say", "figure out",
    "work out", "let me know", "show me",
)  # fmt: skip
STOPWORDS = frozenset(
    "the a an is are does do did of to this that there please me in on it be".split()
)

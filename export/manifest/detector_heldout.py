"""Held-out prompt phrasings for measuring the task detector: written by hand, not drawn.

These were written separately from the suite's templates (export/tasks/) and before the
detector was fitted, in the wording a user of each task type might type. They are never
used for fitting or for choosing the threshold; `benchmarks/detector_eval.py` scores the
fitted detector on them. Each task type has the same number of phrasings, so the accuracy
is not dominated by one type.
"""

from __future__ import annotations

HELDOUT: dict[str, tuple[str, ...]] = {
    "vqa": (
        "what colour is the big triangle?",
        "Is there a green square in this picture?",
        "How many circles are in the image?",
        "Tell me the color of the star please",
        "which object is on the left side?",
        "Are there more red shapes than blue ones?",
        "What shape is at the top of the image?",
        "how many things are purple",
        "Is the heart above or below the cross?",
        "What colour are the diamonds?",
        "Can you count the yellow objects for me?",
        "Where is the blue ring?",
    ),
    "captioning": (
        "Describe this picture for me.",
        "What's going on in this image?",
        "Write one sentence about the picture.",
        "Summarize the image briefly",
        "Give me a caption for this photo",
        "Can you explain what is shown here?",
        "tell me what you see",
        "Generate an alt text for this image.",
        "Please provide a short description.",
        "What is in this picture? Answer in a sentence.",
        "Describe the scene in a few words",
        "write a caption",
    ),
    "doc_qa": (
        "What is the total amount on this receipt?",
        "How much did the coffee cost?",
        "Which item on the bill is the most expensive?",
        "What does the receipt list as the price for BREAD?",
        "What is the height of bar K in the chart?",
        "According to the chart, which category has the lowest value?",
        "What is the difference between bars C and D?",
        "how much was paid for the SOUP",
        "Read the price next to TEA on the receipt.",
        "Which label has the largest bar?",
        "What value is shown for bar M?",
        "Which product costs 4.25 on the invoice?",
    ),
    "multiple_choice": (
        "What colour is the square? (A) red (B) blue (C) green (D) pink",
        "Pick one: A) circle B) star C) heart D) ring. Which shape is orange?",
        "How many triangles are there? Choices: A. 2 B. 5 C. 3 D. 1",
        "Select the correct answer. The blue object is a: A. cross B. diamond C. square D. star",
        "Which option is right? A: yellow, B: black, C: white, D: purple. What colour is the heart?",
        "Answer with a single letter. Which shape is green? A. ring B. cross C. star D. circle",
        "Q: which shape is largest? A. triangle B. square C. circle D. heart. Respond with the letter only.",
        "Choose A, B, C or D: how many stars? A 4 B 2 C 6 D 3",
        "Multiple choice - what colour is the ring? A. green B. red C. blue D. grey",
        "Which of these is in the picture? A. diamond B. star C. cross D. heart",
        "The circle is: (a) red (b) pink (c) blue (d) white. Give the letter.",
        "Which letter is correct? A. 1 B. 3 C. 2 D. 4 - number of squares",
    ),
    "exact_match": (
        "Copy the characters in the box exactly as written.",
        "What exact code is printed inside the frame?",
        "Transcribe the serial number in the rectangle.",
        "Type out the code from the box, character for character.",
        "Read off the boxed characters.",
        "What is the ID shown in the bordered box?",
        "Give me the exact string inside the box.",
        "Copy the code.",
        "Reproduce the alphanumeric code verbatim.",
        "What characters are written in the frame? Keep the case.",
        "Enter the code that appears in the box",
        "What's the code?",
    ),
    "scene_text_qa": (
        "What's written on the red sign?",
        "What word does the blue signboard show?",
        "Read the sign for me.",
        "Which sign says bakery?",
        "What is the text on the shop sign?",
        "What does the green board read?",
        "What colour is the sign with the word hotel on it?",
        "Tell me the word on the orange sign",
        "What name is displayed on the sign?",
        "The sign in the picture says what?",
        "Which colour sign reads taxi?",
        "Can you read what the yellow sign says?",
    ),
}

"""The built-in suite: importing this module registers the 8 datasets, in suite order.

The import order is the registration order, which other code relies on (`all_datasets`,
score files, reports); hence isort is off here.
"""

# isort: off
from . import shapes  # noqa: F401  shapes_vqa, count_vqa
from . import captions  # noqa: F401  scene_captions
from . import documents  # noqa: F401  receipts_docqa
from . import charts  # noqa: F401  bar_charts
from . import mcq  # noqa: F401  option_mcq
from . import text  # noqa: F401  code_match, sign_textvqa

# isort: on

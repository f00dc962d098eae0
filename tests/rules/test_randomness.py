"""VRB102: randomness outside the ctx API."""

from __future__ import annotations

from tests.conftest import CheckFiles
from tests.rules.harness import Invalid, Valid, cases, check_invalid, check_valid, only, wf

CODE = "VRB102"

VALID = [
    Valid("ctx-random", wf("    return ctx.random() < 0.5\n")),
    Valid(
        "local-named-random",
        wf("    random = order['r']\n    return random.choice\n", "import random\n"),
    ),
    Valid(
        "random-in-a-step-body",
        "import random\nfrom runtime import step\n\n\n"
        '@step("draw")\nasync def draw():\n    return random.random()\n',
    ),
    Valid(
        "helper-never-called",
        wf(
            "    return 1\n",
            "import random\n",
            extra="def pick(xs):\n    return random.choice(xs)\n\n\n",
        ),
    ),
    Valid(
        "suppressed", wf("    return random.random()  # vrb: ignore[VRB102]\n", "import random\n")
    ),
    Valid("step-named-random", wf("    return await charge(order['random'])\n")),
    Valid(
        "pure-helper-passed-as-key",
        wf(
            "    return sorted(order, key=weight), list(map(weight, order))\n",
            extra="def weight(x):\n    return x['n']\n\n\n",
        ),
    ),
    Valid(
        "star-import-cycle-through-local-modules",
        {
            "shop/__init__.py": "",
            "shop/a.py": "from .b import *\n\n\ndef price(x):\n    return x\n",
            "shop/b.py": "from .a import *\n",
            "shop/flows.py": wf("    return price(order)\n", "from .b import *\n"),
        },
    ),
]

KEYF = "def keyf(x):\n    return random.random()  # !\n\n\n"

INVALID = [
    Invalid(
        "helper-passed-as-key",
        CODE,
        wf("    return sorted(order, key=keyf)\n", "import random\n", extra=KEYF),
    ),
    Invalid(
        "helper-passed-to-map",
        CODE,
        wf("    return list(map(keyf, order))\n", "import random\n", extra=KEYF),
    ),
    Invalid(
        "helper-passed-to-a-helper-calling-it",
        CODE,
        wf(
            "    return apply(keyf, 1)\n",
            "import random\n",
            extra=KEYF + "def apply(f, x):\n    return f(x)\n\n\n",
        ),
    ),
    Invalid(
        "helper-assigned-then-passed",
        CODE,
        wf("    f = keyf\n    return max(order, key=f)\n", "import random\n", extra=KEYF),
    ),
    Invalid(
        "star-import-through-a-local-module",
        CODE,
        {
            "shop/__init__.py": "",
            "shop/helpers.py": "from random import *\n",
            "shop/flows.py": wf(
                "    a = randint(1, 6)  # !\n    return helpers.choice(order)  # !\n",
                "from . import helpers\nfrom .helpers import *\n",
            ),
        },
    ),
    Invalid("module-attribute", CODE, wf("    return random.random()  # !\n", "import random\n")),
    Invalid("import-alias", CODE, wf("    return r.randint(1, 6)  # !\n", "import random as r\n")),
    Invalid(
        "from-import-alias",
        CODE,
        wf("    return pick(order)  # !\n", "from random import choice as pick\n"),
    ),
    Invalid("star-import", CODE, wf("    return shuffle(order)  # !\n", "from random import *\n")),
    Invalid(
        "module-value-alias",
        CODE,
        wf("    return draw()  # !\n", "import random\n", extra="draw = random.random\n"),
    ),
    Invalid(
        "local-value-alias",
        CODE,
        wf("    draw = random.random\n    return draw()  # !\n", "import random\n"),
    ),
    Invalid(
        "reference-passed-as-key",
        CODE,
        wf("    return sorted(order, key=random.random)  # !\n", "import random\n"),
    ),
    Invalid(
        "secrets", CODE, wf("    return token_hex(8)  # !\n", "from secrets import token_hex\n")
    ),
    Invalid("urandom", CODE, wf("    return os.urandom(8)  # !\n", "import os\n")),
    Invalid("numpy", CODE, wf("    return np.random.rand()  # !\n", "import numpy as np\n")),
    Invalid(
        "numpy-submodule-alias",
        CODE,
        wf("    return npr.rand()  # !\n", "from numpy import random as npr\n"),
    ),
    Invalid(
        "seeded-generator-is-still-flagged",
        CODE,
        wf("    return random.Random(1).random()  # !\n", "import random\n"),
    ),
    Invalid(
        "helper-of-helper",
        CODE,
        wf(
            "    return total(order)\n",
            "import random\n",
            extra="def jitter():\n    return random.random()  # !\n\n\n"
            "def total(o):\n    return o['n'] + jitter()\n\n\n",
        ),
    ),
    Invalid(
        "helper-in-another-module",
        CODE,
        {
            "shop/__init__.py": "",
            "shop/noise.py": "import random\n\n\ndef jitter():\n    return random.gauss(0, 1)  # !\n",
            "shop/flows.py": wf("    return jitter()\n", "from .noise import jitter\n"),
        },
    ),
    Invalid(
        "conditional-import",
        CODE,
        wf(
            "    return nr.random()  # !\n",
            "try:\n    import numpy.random as nr\nexcept ImportError:\n    import random as nr\n",
        ),
    ),
    Invalid(
        "wrong-code-suppressed",
        CODE,
        wf("    return random.random()  # vrb: ignore[VRB101]  # !\n", "import random\n"),
    ),
]


@cases(VALID)
def test_valid(check_files: CheckFiles, case: Valid) -> None:
    check_valid(check_files, case, [CODE])


@cases(INVALID)
def test_invalid(check_files: CheckFiles, case: Invalid) -> None:
    check_invalid(check_files, case)


def test_exact_diagnostic(check_files: CheckFiles) -> None:
    [diag] = only(
        check_files({"mod.py": wf("    x = random.choice(order)\n", "import random\n")}), CODE
    )
    assert (diag.line, diag.column, diag.end_line, diag.end_column) == (12, 9, 12, 29)
    assert diag.message == "random.choice() draws random values; a replay would draw different ones"
    assert diag.hint == "use ctx.random() (seeded from the run), or draw the value inside a step"
    assert (diag.workflow, diag.chain) == ("order", ())

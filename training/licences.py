"""Which installed source we may train on: licence detection for distributions.

A file joins the pretraining corpus only when its distribution's licence is one the
filter can confirm as permissive. The evidence, in order: the SPDX `License-Expression`
(PEP 639), the trove classifiers, the free-text `License` field, then the licence
files shipped in the dist-info folder. Anything else is "unknown" and left out.
"""

from __future__ import annotations

import re
from importlib.metadata import Distribution
from pathlib import Path

PERMISSIVE = ("MIT", "BSD-2-Clause", "BSD-3-Clause", "Apache-2.0", "PSF-2.0", "ISC", "0BSD",
              "Zlib", "Unlicense", "HPND", "MIT-CMU", "MIT-0", "Python-2.0", "CNRI-Python", "BSL-1.0", "CC0-1.0")

# Trove classifier tail -> SPDX id. Only the unambiguous ones: "BSD License" says
# nothing about clauses but every BSD variant is permissive, so it maps to BSD-3-Clause.
_CLASSIFIERS = {
    "MIT License": "MIT",
    "MIT No Attribution License (MIT-0)": "MIT",
    "BSD License": "BSD-3-Clause",
    "Apache Software License": "Apache-2.0",
    "Python Software Foundation License": "PSF-2.0",
    "ISC License (ISCL)": "ISC",
    "The Unlicense (Unlicense)": "Unlicense",
    "zlib/libpng License": "Zlib",
    "Historical Permission Notice and Disclaimer (HPND)": "HPND",
}

# Phrases of the licence texts themselves, for distributions whose metadata says nothing.
_TEXT_MARKERS = (
    ("Apache-2.0", re.compile(r"Apache License,?\s+Version 2\.0", re.I)),
    ("MIT", re.compile(r"Permission is hereby granted, free of charge, to any person", re.I)),
    ("BSD-3-Clause", re.compile(r"Redistribution and use in source and binary forms", re.I)),
    ("PSF-2.0", re.compile(r"PYTHON SOFTWARE FOUNDATION LICENSE", re.I)),
    ("ISC", re.compile(r"Permission to use, copy, modify, and(/or)? distribute this software for any", re.I)),
)
_COPYLEFT_TEXT = re.compile(r"GNU (LESSER |LIBRARY )?GENERAL PUBLIC LICENSE|Mozilla Public License", re.I)

# Free-text `License:` values seen in the wild, normalised to SPDX.
_FREE_TEXT = {
    "mit": "MIT", "mit license": "MIT", "the mit license": "MIT", "mit-cmu": "MIT-CMU",
    "bsd": "BSD-3-Clause", "bsd license": "BSD-3-Clause", "new bsd license": "BSD-3-Clause",
    "3-clause bsd license": "BSD-3-Clause", "bsd-3-clause": "BSD-3-Clause", "bsd 3-clause": "BSD-3-Clause",
    "bsd-2-clause": "BSD-2-Clause", "apache 2.0": "Apache-2.0", "apache-2.0": "Apache-2.0",
    "apache license 2.0": "Apache-2.0", "apache license, version 2.0": "Apache-2.0",
    "apache software license": "Apache-2.0", "apache 2": "Apache-2.0", "apache 2.0 license": "Apache-2.0",
    "apache license": "Apache-2.0", "psf": "PSF-2.0",
    "psf license": "PSF-2.0", "psf-2.0": "PSF-2.0", "isc": "ISC", "isc license": "ISC",
}


def spdx_is_permissive(expression: str) -> bool:
    """True when an SPDX expression can be honoured using permissive terms only.

    "A OR B" needs one permissive side; "A AND B" needs both. Parentheses are
    resolved innermost first.
    """
    expr = expression.strip()
    while "(" in expr:
        expr = re.sub(r"\(([^()]*)\)", lambda m: "MIT" if spdx_is_permissive(m.group(1)) else "NOASSERTION", expr)
    alternatives = re.split(r"\s+OR\s+", expr, flags=re.I)
    return any(all(_single_permissive(part) for part in re.split(r"\s+AND\s+", alt, flags=re.I))
               for alt in alternatives)


def _single_permissive(licence_id: str) -> bool:
    bare = re.sub(r"\s+WITH\s+.*$", "", licence_id.strip(), flags=re.I)
    return bare in PERMISSIVE


def distribution_licence(dist: Distribution) -> str:
    """The distribution's licence as SPDX (maybe an expression), or "unknown: <evidence>"."""
    meta = dist.metadata
    expression = meta.get("License-Expression")
    if expression:
        return expression.strip()
    classified = [_CLASSIFIERS.get(c.split("::")[-1].strip()) for c in meta.get_all("Classifier") or []
                  if c.startswith("License ::")]
    if classified and all(classified):
        return " OR ".join(dict.fromkeys(classified))
    free = (meta.get("License") or "").strip()
    if free.lower() in _FREE_TEXT:
        return _FREE_TEXT[free.lower()]
    if free and "\n" not in free and len(free) <= 40:
        return free  # a short id we do not map (MPL-2.0, LGPL...): reported as is, never permissive
    from_text = _licence_from_text(dist, free)
    if from_text:
        return from_text
    evidence = free.splitlines()[0][:60] if free else ", ".join(c.split("::")[-1].strip() for c in
                                                                meta.get_all("Classifier") or [] if "License" in c)
    return f"unknown: {evidence or 'no licence metadata'}"


def _licence_from_text(dist: Distribution, free_text: str) -> str | None:
    texts = [free_text] + [_read(dist, f) for f in dist.files or []
                           if re.search(r"(LICEN[CS]E|COPYING|NOTICE)", f.name, re.I) and ".dist-info" in str(f)]
    joined = "\n".join(t for t in texts if t)
    if not joined or _COPYLEFT_TEXT.search(joined):
        return None
    found = [spdx for spdx, marker in _TEXT_MARKERS if marker.search(joined)]
    # Several licence texts in one package (e.g. a vendored part) all apply at once.
    return " AND ".join(found) if found else None


def _read(dist: Distribution, file) -> str:
    try:
        return Path(file.locate()).read_text("utf-8", "replace")
    except OSError:
        return ""

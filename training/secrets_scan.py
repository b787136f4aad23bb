"""Find secrets in source text before it becomes training data.

A model trained on a file can recite it, so a file holding a key is kept out of training.
The rules live in `codegen_lsp/privacy.py`, where the server redacts the same secrets from
its prompts: what training drops and what serving hides cannot drift apart.
"""

from codegen_lsp.privacy import KEY_SHAPES, find_secret, is_high_entropy, looks_like_secret_value, shannon_entropy

__all__ = ["KEY_SHAPES", "find_secret", "is_high_entropy", "looks_like_secret_value", "shannon_entropy"]

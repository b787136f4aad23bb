"""Tree-sitter grammars and outline queries by LSP language id, from the per-language wheels (offline).

An unknown language id or a grammar that fails to load gives None: callers fall
back to plain text, never to an error.

Outline queries capture each definition as @function, @method, @class, @type or
@constant with its name as @name, and each import statement as @import.
"""

from __future__ import annotations

import importlib
from functools import lru_cache

from tree_sitter import Language, Parser, Query

# language id -> (module, function returning the grammar pointer)
GRAMMARS: dict[str, tuple[str, str]] = {
    "python": ("tree_sitter_python", "language"),
    "javascript": ("tree_sitter_javascript", "language"),
    "javascriptreact": ("tree_sitter_javascript", "language"),
    "typescript": ("tree_sitter_typescript", "language_typescript"),
    "typescriptreact": ("tree_sitter_typescript", "language_tsx"),
    "go": ("tree_sitter_go", "language"),
    "rust": ("tree_sitter_rust", "language"),
    "java": ("tree_sitter_java", "language"),
    "c": ("tree_sitter_c", "language"),
    "cpp": ("tree_sitter_cpp", "language"),
    "lua": ("tree_sitter_lua", "language"),
    "shellscript": ("tree_sitter_bash", "language"),
    "bash": ("tree_sitter_bash", "language"),
    "sh": ("tree_sitter_bash", "language"),
}

# Neovim's filetypes and other editors' ids that name the same languages.
ALIASES = {"py": "python", "js": "javascript", "ts": "typescript", "tsx": "typescriptreact",
           "jsx": "javascriptreact", "rs": "rust", "c++": "cpp", "zsh": "bash"}


def normalise(language_id: str) -> str:
    language_id = language_id.lower()
    return ALIASES.get(language_id, language_id)


@lru_cache(maxsize=None)
def grammar(language_id: str) -> Language | None:
    spec = GRAMMARS.get(normalise(language_id))
    if spec is None:
        return None
    try:
        module = importlib.import_module(spec[0])
        return Language(getattr(module, spec[1])())
    except (ImportError, AttributeError, ValueError):
        return None


def parser_for(language_id: str) -> Parser | None:
    lang = grammar(language_id)
    return Parser(lang) if lang is not None else None


# Patterns JavaScript and TypeScript share (their class names are different node types).
_ECMASCRIPT = """
(function_declaration name: (identifier) @name) @function
(generator_function_declaration name: (identifier) @name) @function
(method_definition name: (property_identifier) @name) @method
(lexical_declaration (variable_declarator name: (identifier) @name value: [(arrow_function) (function_expression)])) @function
(program (lexical_declaration (variable_declarator name: (identifier) @name
  value: [(string) (number) (object) (array) (template_string)])) @constant)
(import_statement) @import
"""

# One query per grammar module; TSX shares TypeScript's, JSX JavaScript's.
OUTLINE_QUERIES = {
"python": """
(function_definition name: (identifier) @name) @function
(class_definition name: (identifier) @name) @class
(module (expression_statement (assignment left: (identifier) @name) @constant))
(import_statement) @import
(import_from_statement) @import
""",
"javascript": _ECMASCRIPT + """
(class_declaration name: (identifier) @name) @class
""",
"typescript": _ECMASCRIPT + """
(class_declaration name: (type_identifier) @name) @class
(abstract_class_declaration name: (type_identifier) @name) @class
(method_signature name: (property_identifier) @name) @method
(interface_declaration name: (type_identifier) @name) @type
(type_alias_declaration name: (type_identifier) @name) @type
(enum_declaration name: (identifier) @name) @type
""",
"go": """
(function_declaration name: (identifier) @name) @function
(method_declaration name: (field_identifier) @name) @method
(type_spec name: (type_identifier) @name) @type
(const_spec name: (identifier) @name) @constant
(import_declaration) @import
""",
"rust": """
(function_item name: (identifier) @name) @function
(function_signature_item name: (identifier) @name) @function
(struct_item name: (type_identifier) @name) @type
(enum_item name: (type_identifier) @name) @type
(trait_item name: (type_identifier) @name) @type
(type_item name: (type_identifier) @name) @type
(union_item name: (type_identifier) @name) @type
(const_item name: (identifier) @name) @constant
(static_item name: (identifier) @name) @constant
(macro_definition name: (identifier) @name) @function
(use_declaration) @import
""",
"java": """
(class_declaration name: (identifier) @name) @class
(record_declaration name: (identifier) @name) @class
(interface_declaration name: (identifier) @name) @type
(enum_declaration name: (identifier) @name) @type
(method_declaration name: (identifier) @name) @method
(constructor_declaration name: (identifier) @name) @method
(field_declaration (modifiers "static" "final") declarator: (variable_declarator name: (identifier) @name)) @constant
(import_declaration) @import
""",
"c": """
(function_definition declarator: (function_declarator declarator: (identifier) @name)) @function
(function_definition declarator: (pointer_declarator declarator: (function_declarator declarator: (identifier) @name))) @function
(declaration declarator: (function_declarator declarator: (identifier) @name)) @function
(declaration declarator: (pointer_declarator declarator: (function_declarator declarator: (identifier) @name))) @function
(struct_specifier name: (type_identifier) @name body: (_)) @type
(union_specifier name: (type_identifier) @name body: (_)) @type
(enum_specifier name: (type_identifier) @name body: (_)) @type
(type_definition declarator: (type_identifier) @name) @type
(preproc_def name: (identifier) @name) @constant
(preproc_function_def name: (identifier) @name) @function
(preproc_include) @import
""",
"cpp": """
(function_definition declarator: (function_declarator declarator: [(identifier) (field_identifier) (qualified_identifier) (destructor_name) (operator_name)] @name)) @function
(function_definition declarator: (pointer_declarator declarator: (function_declarator declarator: [(identifier) (qualified_identifier)] @name))) @function
(function_definition declarator: (reference_declarator (function_declarator declarator: [(identifier) (qualified_identifier)] @name))) @function
(declaration declarator: (function_declarator declarator: [(identifier) (qualified_identifier)] @name)) @function
(field_declaration declarator: (function_declarator declarator: (field_identifier) @name)) @method
(class_specifier name: (type_identifier) @name body: (_)) @class
(struct_specifier name: (type_identifier) @name body: (_)) @class
(enum_specifier name: (type_identifier) @name body: (_)) @type
(union_specifier name: (type_identifier) @name body: (_)) @type
(type_definition declarator: (type_identifier) @name) @type
(alias_declaration name: (type_identifier) @name) @type
(preproc_def name: (identifier) @name) @constant
(preproc_function_def name: (identifier) @name) @function
(preproc_include) @import
(using_declaration) @import
""",
"lua": """
(function_declaration name: [(identifier) (dot_index_expression) (method_index_expression)] @name) @function
(assignment_statement (variable_list name: [(identifier) (dot_index_expression)] @name) (expression_list value: (function_definition))) @function
(function_call name: (identifier) @_require (#eq? @_require "require")) @import
""",
"bash": """
(function_definition name: (word) @name) @function
(command name: (command_name) @_source (#match? @_source "^(source|\\\\.)$")) @import
""",
}


def _query_key(language_id: str) -> str | None:
    spec = GRAMMARS.get(normalise(language_id))
    if spec is None:
        return None
    return {"tree_sitter_typescript": "typescript", "tree_sitter_javascript": "javascript",
            "tree_sitter_bash": "bash"}.get(spec[0], normalise(language_id))


@lru_cache(maxsize=None)
def outline_query(language_id: str) -> Query | None:
    lang, key = grammar(language_id), _query_key(language_id)
    if lang is None or key not in OUTLINE_QUERIES:
        return None
    return Query(lang, OUTLINE_QUERIES[key])


# File suffix -> language id, for files the editor hasn't opened (the workspace index).
SUFFIXES = {
    ".py": "python", ".pyi": "python", ".js": "javascript", ".mjs": "javascript", ".cjs": "javascript",
    ".jsx": "javascriptreact", ".ts": "typescript", ".mts": "typescript", ".cts": "typescript",
    ".tsx": "typescriptreact", ".go": "go", ".rs": "rust", ".java": "java", ".c": "c", ".h": "c",
    ".cc": "cpp", ".cpp": "cpp", ".cxx": "cpp", ".hpp": "cpp", ".hh": "cpp", ".hxx": "cpp",
    ".lua": "lua", ".sh": "bash", ".bash": "bash",
}


def language_of_path(path: str) -> str | None:
    dot = path.rfind(".")
    return SUFFIXES.get(path[dot:].lower()) if dot > path.rfind("/") else None

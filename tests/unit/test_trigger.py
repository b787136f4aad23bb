import pytest

from codegen_lsp.context.languages import grammar, normalise, parser_for
from codegen_lsp.context.trigger import MAX_PARSE_BYTES, Mode, decide_mode

NONE, SINGLE, MULTI = Mode.NONE, Mode.SINGLE_LINE, Mode.MULTI_LINE


def mode_at(sample: str, language: str) -> Mode:
    """The mode at the "|" in sample (the "|" is removed)."""
    offset = sample.index("|")
    return decide_mode(sample[:offset] + sample[offset + 1:], offset, language)


CASES = [
    # language, sample with | at the cursor, expected
    # --- mid-word
    ("python", "def f(x):\n    ret|urn x\n", NONE),
    ("javascript", "let total = amou|nt;", NONE),
    ("typescript", "const n: num|ber = 1;", NONE),
    ("go", "func ma|in() {}", NONE),
    ("rust", "let val|ue = 1;", NONE),
    ("java", "int cou|nt = 0;", NONE),
    ("c", "int ma|in(void);", NONE),
    ("cpp", "std::vec|tor<int> v;", NONE),
    ("lua", "local na|me = 1", NONE),
    ("bash", "ec|ho hi", NONE),
    # --- code after the cursor on the line
    ("python", "x = | + 1\n", SINGLE),
    ("javascript", "x = | + 1;", SINGLE),
    ("typescript", "let x: number = | * 2;", SINGLE),
    ("go", "x := | + 1", SINGLE),
    ("rust", "let x = | + 1;", SINGLE),
    ("java", "int x = | + 1;", SINGLE),
    ("c", "int x = | + 1;", SINGLE),
    ("cpp", "auto x = | + 1;", SINGLE),
    ("lua", "local x = | + 1", SINGLE),
    ("bash", "x=| $(y)", SINGLE),
    # --- inside a string whose text so far ends like a block opener: only the grammar tells
    ("python", 's = "items: |"\n', SINGLE),
    ("javascript", 'const s = "items: {|";', SINGLE),
    ("typescript", 'const s: string = "items: {|";', SINGLE),
    ("go", 's := "items: {|"', SINGLE),
    ("rust", 'let s = "items: {|";', SINGLE),
    ("java", 'String s = "items: {|";', SINGLE),
    ("c", 'char *s = "items: {|";', SINGLE),
    ("cpp", 'auto s = "items: {|";', SINGLE),
    ("lua", 'local s = "items: {|"', SINGLE),
    ("bash", 'echo "items: {|"', SINGLE),
    # --- on a blank line inside a multi-line string
    ("python", 'doc = """\n|\n"""\n', SINGLE),
    ("javascript", "const s = `\n|\n`;", SINGLE),
    ("go", "s := `\n|\n`", SINGLE),
    ("rust", 'let s = "\n|\n";', SINGLE),
    ("cpp", 'auto r = R"(\n|\n)";', SINGLE),
    ("lua", "local s = [[\n|\n]]", SINGLE),
    ("bash", "s='\n|\n'", SINGLE),
    # --- inside a comment whose text ends like a block opener
    ("python", "x = 1  # note: |\n", SINGLE),
    ("python", "# section: |", SINGLE),
    ("javascript", "// section: {|\n", SINGLE),
    ("typescript", "// section: |\n", SINGLE),
    ("go", "// section: |\n", SINGLE),
    ("rust", "// section: |\n", SINGLE),
    ("java", "// section: |\n", SINGLE),
    ("c", "// section: |\n", SINGLE),
    ("cpp", "// section: |\n", SINGLE),
    ("lua", "-- section: |\n", SINGLE),
    ("bash", "# section: |\n", SINGLE),
    # --- blank line inside a block comment
    ("javascript", "/* multi\n|\n*/", SINGLE),
    ("typescript", "/* multi\n|\n*/", SINGLE),
    ("go", "/* multi\n|\n*/", SINGLE),
    ("rust", "/* multi\n|\n*/", SINGLE),
    ("java", "/* multi\n|\n*/", SINGLE),
    ("c", "/* multi\n|\n*/", SINGLE),
    ("cpp", "/* multi\n|\n*/", SINGLE),
    ("lua", "--[[ multi\n|\n]]", SINGLE),
    # --- after a block opener
    ("python", "def f(x):|\n", MULTI),
    ("python", "x = foo(|)\n", MULTI),
    ("javascript", "function f() {|\n}", MULTI),
    ("javascript", "const f = () =>|", MULTI),
    ("typescript", "function f(): number {|\n}", MULTI),
    ("go", "func f() {|\n}", MULTI),
    ("rust", "fn f() {|\n}", MULTI),
    ("java", "class A {|\n}", MULTI),
    ("c", "int f() {|\n}", MULTI),
    ("cpp", "namespace n {|\n}", MULTI),
    ("lua", "for i = 1, 3 do|\nend", MULTI),
    ("lua", "if x then|\nend", MULTI),
    ("bash", "if true; then|\nfi", MULTI),
    ("bash", "for i in 1 2; do|\ndone", MULTI),
    # --- on a blank line
    ("python", "def f(x):\n    |\n", MULTI),
    ("python", "if x:\r\n|\r\n", MULTI),
    ("javascript", "function f() {\n  |\n}", MULTI),
    ("typescript", "class A {\n  |\n}", MULTI),
    ("go", "func f() {\n\t|\n}", MULTI),
    ("rust", "fn f() {\n    |\n}", MULTI),
    ("java", "class A {\n    |\n}", MULTI),
    ("c", "int main(void) {\n|\n}", MULTI),
    ("cpp", "int main() {\n  |\n}", MULTI),
    ("lua", "function M.f()\n|\nend", MULTI),
    ("bash", "f() {\n  |\n}", MULTI),
    # --- after a statement
    ("python", "x = 1 + 2|\n", SINGLE),
    ("go", "x := 1|\n", SINGLE),
    ("c", "int x = 1;|\n", SINGLE),
    ("cpp", "return x;|", SINGLE),
    # --- non-ASCII before the cursor: byte offsets are computed from the text
    ("python", "é = 'ü: |'\n", SINGLE),
    ("python", "ü = 1  # héllo: |\n", SINGLE),
]


@pytest.mark.parametrize("language, sample, expected", CASES)
def test_decide_mode(language, sample, expected):
    assert mode_at(sample, language) is expected


@pytest.mark.parametrize("language, sample, expected", CASES)
def test_the_documents_own_tree_gives_the_same_mode(language, sample, expected):
    from codegen_lsp.documents import Document

    offset = sample.index("|")
    document = Document("file:///a", language, 1, sample[:offset] + sample[offset + 1:])
    assert decide_mode(document.text, offset, language, document.tree, document.source) is expected


def test_every_named_language_has_a_grammar():
    for language in ("python", "javascript", "typescript", "typescriptreact", "go", "rust", "java", "c",
                     "cpp", "lua", "bash", "shellscript", "sh", "zsh", "py", "ts", "c++"):
        assert grammar(language) is not None, language
        assert parser_for(language) is not None


def test_aliases_and_case():
    assert normalise("Python") == "python"
    assert normalise("ts") == "typescript"
    assert mode_at('s = "items: |"\n', "PY") is SINGLE


@pytest.mark.parametrize("sample, expected", [
    ("MOVE A TO B|", SINGLE),
    ("  |\n", MULTI),
    ("PERFORM X|Y", NONE),
    ("DISPLAY 'HI: |'", SINGLE),  # no grammar: the text rules see the open quote
])
def test_unknown_language_falls_back_to_text_rules(sample, expected):
    assert grammar("cobol") is None
    assert parser_for("cobol") is None
    assert mode_at(sample, "cobol") is expected


def test_cursor_at_start_and_end_of_text():
    assert decide_mode("", 0, "python") is MULTI
    assert decide_mode("x", 0, "python") is NONE
    assert decide_mode("x = 1", 5, "python") is SINGLE


def test_file_over_max_parse_bytes_is_judged_on_text():
    filler = "value = compute(1, 2)\n" * (MAX_PARSE_BYTES // 22 + 10)
    assert len(filler.encode()) > MAX_PARSE_BYTES
    text = filler + "def f(x):\n    \n"
    assert decide_mode(text, len(text) - 1, "python") is MULTI
    assert decide_mode(text, len(filler) + 2, "python") is NONE
    assert decide_mode(filler + "x = | + 1\n".replace("|", ""), len(filler) + 4, "python") is SINGLE
    # Over the limit there is no parse, but the open-quote text rule still sees the string.
    big_string = filler + 's = "items: "\n'
    assert decide_mode(big_string, len(big_string) - 2, "python") is SINGLE
    # The same string in a small file is recognised.
    assert decide_mode('s = "items: "\n', 12, "python") is SINGLE


@pytest.mark.parametrize("sample", ["local function f(a)|\nend", "function M.f()|\nend", "repeat|\nuntil done"])
def test_lua_function_header_opens_a_block(sample):
    assert mode_at(sample, "lua") is MULTI


@pytest.mark.parametrize("language, sample", [
    ("python", 'print("value: |\nx = 1\n'),
    ("javascript", 'console.log("value: {|\nlet x = 1;\n'),
    ("c", 'int main() {\n  printf("value: {|\n  return 0;\n}\n'),
])
def test_unterminated_string_is_single_line(language, sample):
    assert mode_at(sample, language) is SINGLE


def test_file_just_under_max_parse_bytes_is_still_parsed():
    filler = "value = compute(1, 2)\n" * ((MAX_PARSE_BYTES - 100) // 22)
    text = filler + 's = "items: "\n'
    assert len(text.encode()) <= MAX_PARSE_BYTES
    assert decide_mode(text, len(text) - 2, "python") is SINGLE

-- Byte columns (what Neovim uses) <-> LSP characters (in the client's offset encoding).
local M = {}

local has_011 = vim.fn.has("nvim-0.11") == 1

--- The LSP character of byte column `col` (0-based) in `line`.
function M.character(line, col, encoding)
  col = math.min(col, #line)
  if encoding == "utf-8" then
    return col
  end
  if has_011 then
    return vim.str_utfindex(line, encoding, col, false)
  end
  return vim.lsp.util._str_utfindex_enc(line, col, encoding)
end

--- The byte column (0-based) of LSP character `character` in `line`.
function M.byte(line, character, encoding)
  if encoding == "utf-8" then
    return math.min(character, #line)
  end
  if has_011 then
    return vim.str_byteindex(line, encoding, character, false)
  end
  return vim.lsp.util._str_byteindex_enc(line, character, encoding)
end

local function line_text(bufnr, row)
  return vim.api.nvim_buf_get_lines(bufnr, row, row + 1, false)[1] or ""
end

--- An LSP position for (row, byte col), both 0-based.
function M.to_lsp(bufnr, row, col, encoding)
  return { line = row, character = M.character(line_text(bufnr, row), col, encoding) }
end

--- (row, byte col), both 0-based, for an LSP position.
function M.from_lsp(bufnr, position, encoding)
  return position.line, M.byte(line_text(bufnr, position.line), position.character, encoding)
end

return M

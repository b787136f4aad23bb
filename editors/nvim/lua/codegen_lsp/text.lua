-- How much of a suggestion the partial accepts take.
local M = {}

--- The next word of `text`, with the whitespace (line breaks too) before it.
function M.next_word(text)
  return text:match("^%s*[%w_]+") or text:match("^%s*[^%w_%s]+") or text
end

--- The rest of the current line of `text`; at a line break, the break and the next line.
function M.next_line(text)
  local first = text:match("^[^\n]*")
  if first ~= "" then
    return first
  end
  return "\n" .. text:sub(2):match("^[^\n]*")
end

--- The part of `text` an accept of `kind` ("all", "word" or "line") inserts.
function M.piece(text, kind)
  if kind == "word" then
    return M.next_word(text)
  elseif kind == "line" then
    return M.next_line(text)
  end
  return text
end

--- Insert `text` at the cursor of the current window and move the cursor after it.
function M.insert_at_cursor(text)
  local row, col = unpack(vim.api.nvim_win_get_cursor(0))
  local lines = vim.split(text, "\n", { plain = true })
  vim.api.nvim_buf_set_text(0, row - 1, col, row - 1, col, lines)
  local last = #lines == 1 and col + #lines[1] or #lines[#lines]
  vim.api.nvim_win_set_cursor(0, { row + #lines - 1, last })
end

return M

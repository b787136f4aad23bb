-- A floating window for Markdown the server writes (explanations, diagrams, status).
local M = {}

local function display_width(lines)
  local width = 0
  for _, line in ipairs(lines) do
    width = math.max(width, vim.fn.strdisplaywidth(line))
  end
  return width
end

-- Rows the lines take once wrapped at `width`; the float is sized to fit them when it can.
local function wrapped_height(lines, width)
  local height = 0
  for _, line in ipairs(lines) do
    height = height + math.max(1, math.ceil(vim.fn.strdisplaywidth(line) / width))
  end
  return height
end

--- Show `text` (Markdown) in a centred float that takes focus; q or <Esc> closes it.
--- Returns the window and buffer.
function M.markdown(text, title)
  local lines = vim.split(vim.trim(text), "\n", { plain = true })
  local buf = vim.api.nvim_create_buf(false, true)
  vim.api.nvim_buf_set_lines(buf, 0, -1, false, lines)
  vim.bo[buf].modifiable = false
  vim.bo[buf].bufhidden = "wipe"
  vim.bo[buf].filetype = "markdown"

  local columns, rows = vim.o.columns, vim.o.lines - vim.o.cmdheight
  local width = math.max(20, math.min(display_width(lines) + 2, math.floor(columns * 0.8), 100))
  width = math.min(width, columns - 4)
  local height = math.max(1, math.min(wrapped_height(lines, width), math.floor(rows * 0.8)))
  local win = vim.api.nvim_open_win(buf, true, {
    relative = "editor",
    width = width,
    height = height,
    row = math.floor((rows - height) / 2) - 1,
    col = math.floor((columns - width) / 2),
    style = "minimal",
    border = "rounded",
    title = title and (" " .. title .. " ") or nil,
    title_pos = title and "center" or nil,
  })
  vim.wo[win].wrap = true
  vim.wo[win].linebreak = true
  vim.wo[win].conceallevel = 2
  for _, key in ipairs({ "q", "<Esc>" }) do
    vim.keymap.set("n", key, function()
      if vim.api.nvim_win_is_valid(win) then
        vim.api.nvim_win_close(win, true)
      end
    end, { buffer = buf, nowait = true, desc = "Close the codegen-lsp window" })
  end
  return win, buf
end

return M

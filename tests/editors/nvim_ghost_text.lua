-- Type in insert mode until ghost text shows, then accept it with <Tab>.
local H = require("nvim_harness")
local ghost = require("codegen_lsp.ghost")

local function ghost_mark()
  return vim.api.nvim_buf_get_extmarks(0, ghost.namespace, 0, -1, { details = true })[1]
end

--- The text an extmark shows: its inline text, then its virtual lines.
local function shown_text(details)
  local lines = { "" }
  for _, chunk in ipairs(details.virt_text or {}) do
    lines[1] = lines[1] .. chunk[1]
  end
  for _, virt_line in ipairs(details.virt_lines or {}) do
    local line = ""
    for _, chunk in ipairs(virt_line) do
      line = line .. chunk[1]
    end
    lines[#lines + 1] = line
  end
  return table.concat(lines, "\n")
end

H.run(function()
  H.wait_for("the codegen-lsp client", H.client, 30000)
  vim.api.nvim_win_set_cursor(0, { tonumber(vim.env.CODEGEN_TEST_LINE), 0 })
  H.type("o" .. vim.env.CODEGEN_TEST_TYPE)
  local mark = H.wait_for("ghost text", ghost_mark, 60000)

  local row, col = unpack(vim.api.nvim_win_get_cursor(0))
  H.result.mode = vim.fn.mode()
  H.result.cursor = { row - 1, col }
  H.result.mark = { mark[2], mark[3] }
  H.result.hl_group = mark[4].virt_text and mark[4].virt_text[1][2]
  H.result.shown = shown_text(mark[4])
  H.result.lines = vim.api.nvim_buf_get_lines(0, 0, -1, false)
  H.result.screen = H.render(0, ghost.namespace, true)

  local before = vim.api.nvim_buf_get_changedtick(0)
  H.type("<Tab>")
  H.wait_for("the accepted suggestion", function()
    return vim.api.nvim_buf_get_changedtick(0) ~= before
  end, 10000)
  local after_row, after_col = unpack(vim.api.nvim_win_get_cursor(0))
  H.result.accepted_lines = vim.api.nvim_buf_get_lines(0, 0, -1, false)
  H.result.accepted_cursor = { after_row - 1, after_col }
  H.result.accepted_mode = vim.fn.mode()
end, 90000)

-- The other ghost-text keys: <M-w> takes a word, <C-]> dismisses, <Tab> with nothing showing is a
-- plain Tab, and <M-l> takes a line.
local H = require("nvim_harness")
local ghost = require("codegen_lsp.ghost")

local function marks()
  return vim.api.nvim_buf_get_extmarks(0, ghost.namespace, 0, -1, {})
end

local function line()
  return vim.api.nvim_get_current_line()
end

H.run(function()
  H.wait_for("the codegen-lsp client", H.client, 30000)
  vim.api.nvim_win_set_cursor(0, { tonumber(vim.env.CODEGEN_TEST_LINE), 0 })
  H.type("oreturn fib")
  H.result.first = H.wait_for("ghost text", ghost.current_text, 60000)

  local tick = vim.api.nvim_buf_get_changedtick(0)
  H.type("<M-w>")
  H.wait_for("the accepted word", function()
    return vim.api.nvim_buf_get_changedtick(0) ~= tick
  end, 10000)
  H.result.after_word = line()
  H.result.rest_after_word = ghost.current_text() or vim.NIL

  H.type("<C-]>")
  H.result.marks_after_dismiss = #marks()
  H.result.after_dismiss = line()

  tick = vim.api.nvim_buf_get_changedtick(0)
  H.type("<Tab>")
  H.wait_for("the Tab", function()
    return vim.api.nvim_buf_get_changedtick(0) ~= tick
  end, 10000)
  H.result.after_tab = line()

  H.type("<Esc>oreturn fib")
  local second = H.wait_for("ghost text on the second line", ghost.current_text, 60000)
  H.result.second = second
  H.result.before_line = line() -- the indentation is Python's to choose after a `return`
  tick = vim.api.nvim_buf_get_changedtick(0)
  H.type("<M-l>")
  H.wait_for("the accepted line", function()
    return vim.api.nvim_buf_get_changedtick(0) ~= tick
  end, 10000)
  H.result.after_line = line()
  H.result.mode = vim.fn.mode()
end, 120000)

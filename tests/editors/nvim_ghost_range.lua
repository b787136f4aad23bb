-- A suggestion whose range starts before the cursor (the typed start of what it replaces), on a
-- line with a character that is 2 bytes in UTF-8 but 1 UTF-16 unit: shown from the cursor,
-- accepted by replacing the range. No server: the item is handed to the renderer directly.
local H = require("nvim_harness")
local ghost = require("codegen_lsp.ghost")

H.run(function()
  local prefix = '    name = "Zoë"; '
  vim.api.nvim_buf_set_lines(0, 0, -1, false, { prefix .. "return fib", "" })
  vim.api.nvim_win_set_cursor(0, { 1, 0 })
  H.type("A")
  local start = vim.str_utfindex(prefix, "utf-16")
  local cursor = vim.str_utfindex(prefix .. "return fib", "utf-16")
  ghost.show(0, "utf-16", {
    text = "return fibonacci(n)",
    range = { start = { line = 0, character = start }, ["end"] = { line = 0, character = cursor } },
  })
  H.result.shown = ghost.current_text() or vim.NIL
  H.result.mark_col = (vim.api.nvim_buf_get_extmarks(0, ghost.namespace, 0, -1, {})[1] or {})[3] or vim.NIL

  H.type("o") -- typed along the suggestion: it stays, shorter
  H.result.after_typing = ghost.current_text() or vim.NIL
  H.type("x") -- typed against it: it goes
  H.result.after_mismatch = ghost.current_text() or vim.NIL
  H.type("<BS>")

  ghost.show(0, "utf-16", {
    text = "return fibonacci(n)",
    range = { start = { line = 0, character = start }, ["end"] = { line = 0, character = cursor + 1 } },
  })
  H.type("<Cmd>lua require('codegen_lsp.ghost').accept('all')<CR>")
  H.result.accepted = vim.api.nvim_get_current_line()
  H.result.cursor = vim.api.nvim_win_get_cursor(0)
end, 30000)

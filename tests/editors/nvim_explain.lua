-- :CodegenExplain with the cursor in a function: the explanation opens in a float; q closes it.
local H = require("nvim_harness")

local function floating_window()
  for _, win in ipairs(vim.api.nvim_list_wins()) do
    if vim.api.nvim_win_get_config(win).relative ~= "" then
      return win
    end
  end
end

H.run(function()
  H.wait_for("the codegen-lsp client", H.client, 30000)
  vim.api.nvim_win_set_cursor(0, { tonumber(vim.env.CODEGEN_TEST_LINE), 4 })
  vim.cmd("CodegenExplain")
  local win = H.wait_for("the explanation's floating window", floating_window, 60000)
  local buf = vim.api.nvim_win_get_buf(win)
  local win_config = vim.api.nvim_win_get_config(win)
  H.result.relative = win_config.relative
  H.result.size = { win_config.width, win_config.height, vim.o.columns, vim.o.lines }
  H.result.focused = vim.api.nvim_get_current_win() == win
  H.result.lines = vim.api.nvim_buf_get_lines(buf, 0, -1, false)
  H.result.filetype = vim.bo[buf].filetype
  H.result.wrap = vim.wo[win].wrap

  H.type("q")
  H.wait_for("the float to close", function()
    return not vim.api.nvim_win_is_valid(win)
  end, 10000)
  H.result.closed = true

  -- A command this server does not advertise is not sent; a warning says to update codegen-lsp.
  local warnings = {}
  local notify = vim.notify
  vim.notify = function(message, level)
    if level == vim.log.levels.WARN then
      warnings[#warnings + 1] = message
    end
    return notify(message, level)
  end
  H.result.sent = require("codegen_lsp.lsp").execute(H.client(), "codegen.noSuchCommand", {})
  H.result.warnings = warnings
end, 90000)

-- :checkhealth codegen_lsp; with CODEGEN_TEST_WAIT_CLIENT=1 once the client is up.
local H = require("nvim_harness")

H.run(function()
  if vim.env.CODEGEN_TEST_WAIT_CLIENT == "1" then
    H.wait_for("the codegen-lsp client", H.client, 30000)
  end
  vim.cmd("checkhealth codegen_lsp")
  H.result.health = vim.api.nvim_buf_get_lines(0, 0, -1, false)
end, 150000)

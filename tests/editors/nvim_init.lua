-- init.lua of the Neovim that tests/editors/test_nvim.py starts: the plugin from this checkout,
-- set up with the options the test passes as JSON.
vim.opt.runtimepath:append(vim.env.CODEGEN_TEST_PLUGIN)
package.path = vim.env.CODEGEN_TEST_DIR .. "/?.lua;" .. package.path
require("codegen_lsp").setup(vim.json.decode(vim.env.CODEGEN_TEST_OPTIONS))

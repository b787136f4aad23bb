-- Loaded at startup; the plugin itself starts with require("codegen_lsp").setup().
if vim.g.loaded_codegen_lsp then
  return
end
vim.g.loaded_codegen_lsp = true

-- Colour schemes clear highlight groups, so the default link is set again after each.
local function highlight()
  vim.api.nvim_set_hl(0, "CodegenGhostText", { link = "Comment", default = true })
end
highlight()
vim.api.nvim_create_autocmd("ColorScheme", {
  group = vim.api.nvim_create_augroup("codegen_lsp_highlight", { clear = true }),
  callback = highlight,
})

-- codegen-lsp for Neovim: starts the server, shows its ghost text and gives its commands.
--
--   require("codegen_lsp").setup({ settings = { completion = { maxNewTokens = 64 } } })
local config = require("codegen_lsp.config")
local lsp = require("codegen_lsp.lsp")

local M = {}

local backend = nil

--- The ghost-text backend: Neovim's own inline completion (0.12+) or this plugin's renderer.
function M.backend()
  if not backend then
    local native = require("codegen_lsp.native")
    local wanted = config.options.ghost_text.native
    backend = (wanted ~= false and native.available()) and native or require("codegen_lsp.ghost")
  end
  return backend
end

function M.uses_native_ghost_text()
  return M.backend() == require("codegen_lsp.native")
end

local function on_attach(args)
  local client = vim.lsp.get_client_by_id(args.data.client_id)
  if not client or client.name ~= lsp.name then
    return
  end
  M.backend().attach(args.buf)
  require("codegen_lsp.keymaps").attach(args.buf)
end

local function on_detach(args)
  local client = vim.lsp.get_client_by_id(args.data.client_id)
  if client and client.name == lsp.name then
    M.backend().detach(args.buf)
  end
end

function M.setup(opts)
  if vim.fn.has("nvim-0.10") == 0 then
    vim.notify("codegen-lsp needs Neovim 0.10 or later", vim.log.levels.ERROR)
    return
  end
  local previous = config.did_setup and vim.deepcopy(config.options.settings) or nil
  config.set(opts)
  backend = nil

  local group = vim.api.nvim_create_augroup("codegen_lsp", { clear = true })
  vim.api.nvim_create_autocmd("LspAttach", { group = group, callback = on_attach })
  vim.api.nvim_create_autocmd("LspDetach", { group = group, callback = on_detach })
  require("codegen_lsp.commands").register()
  require("codegen_lsp.progress").setup()
  lsp.enable()
  -- setup() again with other settings: running servers take them without a restart.
  if previous and not vim.deep_equal(previous, config.options.settings) then
    lsp.push_settings()
  end
end

--- Accept the whole suggestion; false when none is showing (for your own mappings).
function M.accept()
  return M.backend().accept("all")
end

function M.accept_word()
  return M.backend().accept("word")
end

function M.accept_line()
  return M.backend().accept("line")
end

function M.dismiss()
  return M.backend().dismiss()
end

function M.visible()
  return M.backend().visible()
end

--- Switch ghost text on or off everywhere; returns the new state.
function M.toggle()
  local on = not M.backend().is_enabled()
  M.backend().set_enabled(on)
  return on
end

return M

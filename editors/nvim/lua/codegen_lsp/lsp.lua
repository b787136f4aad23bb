-- The codegen-lsp client: starting it, finding it, and talking to it on Neovim 0.10 and later.
local config = require("codegen_lsp.config")

local M = {}

M.name = "codegen_lsp"
local has_011 = vim.fn.has("nvim-0.11") == 1

-- 0.11 made client methods take `self` (client:request); 0.10 only has client.request(...).
function M.request(client, method, params, handler, bufnr)
  if has_011 then
    return client:request(method, params, handler, bufnr)
  end
  return client.request(method, params, handler, bufnr)
end

function M.request_sync(client, method, params, timeout_ms, bufnr)
  if has_011 then
    return client:request_sync(method, params, timeout_ms, bufnr)
  end
  return client.request_sync(method, params, timeout_ms, bufnr)
end

function M.cancel(client, request_id)
  if has_011 then
    return client:cancel_request(request_id)
  end
  return client.cancel_request(request_id)
end

function M.notify(client, method, params)
  if has_011 then
    return client:notify(method, params)
  end
  return client.notify(method, params)
end

function M.is_stopped(client)
  if has_011 then
    return client:is_stopped()
  end
  return client.is_stopped()
end

function M.stop(client)
  if has_011 then
    return client:stop()
  end
  return client.stop()
end

--- The codegen-lsp client attached to `bufnr` (0: current), or any running one when `bufnr` is nil.
function M.client(bufnr)
  local clients = vim.lsp.get_clients({ name = M.name, bufnr = bufnr })
  return clients[1]
end

--- The server commands this server advertises.
function M.commands(client)
  local provider = client.server_capabilities.executeCommandProvider
  return type(provider) == "table" and provider.commands or {}
end

function M.provides(client, command)
  return vim.tbl_contains(M.commands(client), command)
end

--- Run a server command and call `on_result(result)` with its answer; a failed request is shown
--- instead. A command the server does not advertise is not sent: a warning says so (false).
function M.execute(client, command, arguments, on_result, bufnr)
  if not M.provides(client, command) then
    vim.notify(("codegen-lsp: this codegen-lsp server does not provide `%s`; update codegen-lsp "
      .. "(pip install -U codegen-lsp)"):format(command), vim.log.levels.WARN)
    return false
  end
  M.request(client, "workspace/executeCommand", { command = command, arguments = arguments }, function(err, result)
    if err then
      vim.notify(("codegen-lsp: %s failed: %s"):format(command, err.message or vim.inspect(err)), vim.log.levels.ERROR)
      return
    end
    if on_result then
      on_result(result)
    end
  end, bufnr)
  return true
end

--- The folder a buffer's client works in: the nearest root marker, else the file's own folder
--- (so that explain and train always have a workspace folder to write to).
function M.root_dir(bufnr)
  local root = vim.fs.root(bufnr, config.options.root_markers)
  if root then
    return root
  end
  local name = vim.api.nvim_buf_get_name(bufnr)
  return name ~= "" and vim.fs.dirname(name) or vim.uv.cwd()
end

local function settings_payload()
  local settings = vim.deepcopy(config.options.settings)
  -- An empty Lua table would go out as a JSON list, which the server rejects.
  return { codegen = next(settings) == nil and vim.empty_dict() or settings }
end

--- The client configuration shared by every way of starting the server.
function M.client_config()
  return {
    name = M.name,
    cmd = config.cmd(),
    -- The settings go out once, in initialize. Neovim would send a client's `settings` again
    -- right after it (didChangeConfiguration), for nothing; push_settings() sends changes.
    init_options = settings_payload(),
    handlers = require("codegen_lsp.handlers").handlers(),
  }
end

local function attach_filetype(bufnr)
  local filetype = vim.bo[bufnr].filetype
  return vim.bo[bufnr].buftype == "" and vim.tbl_contains(config.options.filetypes, filetype)
end

--- Start the server for the configured filetypes: vim.lsp.config/enable where they exist (0.11+),
--- a FileType autocmd with vim.lsp.start otherwise.
function M.enable()
  local client_config = M.client_config()
  if vim.lsp.config and vim.lsp.enable then
    client_config.filetypes = config.options.filetypes
    client_config.root_dir = function(bufnr, on_dir)
      if vim.bo[bufnr].buftype == "" then
        on_dir(M.root_dir(bufnr))
      end
    end
    vim.lsp.config(M.name, client_config)
    vim.lsp.enable(M.name)
    return
  end
  local group = vim.api.nvim_create_augroup("codegen_lsp_start", { clear = true })
  local function start(bufnr)
    if attach_filetype(bufnr) then
      vim.lsp.start(vim.tbl_extend("force", M.client_config(), { root_dir = M.root_dir(bufnr) }), { bufnr = bufnr })
    end
  end
  vim.api.nvim_create_autocmd("FileType", {
    group = group,
    pattern = config.options.filetypes,
    callback = function(args)
      start(args.buf)
    end,
  })
  for _, bufnr in ipairs(vim.api.nvim_list_bufs()) do
    if vim.api.nvim_buf_is_loaded(bufnr) then
      start(bufnr)
    end
  end
end

--- Send the current settings to the running clients (setup() called again).
function M.push_settings()
  for _, client in ipairs(vim.lsp.get_clients({ name = M.name })) do
    M.notify(client, "workspace/didChangeConfiguration", { settings = settings_payload() })
  end
end

--- Start a client that is attached to no buffer (for :checkhealth); its id, or nil and why not.
function M.start_detached(root)
  local client_config = vim.tbl_extend("force", M.client_config(), { root_dir = root })
  local ok, id = pcall(function()
    if has_011 then
      return vim.lsp.start(client_config, { attach = false, silent = true })
    end
    return vim.lsp.start_client(client_config)
  end)
  if not ok then
    return nil, tostring(id)
  end
  return id
end

return M

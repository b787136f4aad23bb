-- :checkhealth codegen_lsp — is the server there, does it start, which model does it serve.
local config = require("codegen_lsp.config")
local lsp = require("codegen_lsp.lsp")

local M = {}

local health = vim.health
local START_TIMEOUT_MS = 30000
local LOAD_TIMEOUT_MS = 120000

local function check_neovim()
  local v = vim.version()
  local version = ("%d.%d.%d"):format(v.major, v.minor, v.patch)
  if vim.fn.has("nvim-0.10") == 1 then
    health.ok("Neovim " .. version)
  else
    health.error("Neovim " .. version .. " is too old", { "codegen-lsp needs Neovim 0.10 or later" })
  end
  if not config.did_setup then
    health.warn("require('codegen_lsp').setup() was not called; checking the defaults",
      { "call require('codegen_lsp').setup({}) in your init.lua" })
  end
end

--- Whether the server command can run; false (with an error) when it cannot.
local function check_command()
  local cmd = config.cmd()
  local shown = table.concat(cmd, " ")
  if vim.fn.executable(cmd[1]) ~= 1 then
    health.error(("server command not found: `%s` is not executable"):format(cmd[1]), {
      "install the server: pip install codegen-lsp, or pip install -e path/to/a/codegen-lsp/clone",
      "or point setup() at it: cmd = { '/path/to/codegen-lsp', 'serve' } or python = '/path/to/python'",
    })
    return false
  end
  if config.options.python then
    local probe = vim.system({ cmd[1], "-c", "import codegen_lsp" }, { text = true }):wait(30000)
    if probe.code ~= 0 then
      health.error(("`%s` cannot import codegen_lsp"):format(cmd[1]), {
        "install it into that Python: " .. cmd[1] .. " -m pip install codegen-lsp",
        (probe.stderr or ""):match("[^\n]*Error[^\n]*") or "",
      })
      return false
    end
  end
  health.ok("server command: `" .. shown .. "`")
  return true
end

local function initialized(client)
  return client.initialized or (client.server_capabilities ~= nil and next(client.server_capabilities) ~= nil)
end

local function wait_until_initialized(client)
  vim.wait(START_TIMEOUT_MS, function()
    return lsp.is_stopped(client) or initialized(client)
  end, 100)
  return initialized(client)
end

--- The running client (attached to a buffer, or any), else one started for this check; and
--- whether it was started here.
local function find_or_start_client()
  local client, started_here = lsp.client(), false
  if not client then
    health.info("no codegen-lsp client is running (no file of a served filetype is open); starting one to check it")
    local id, err = lsp.start_detached(vim.uv.cwd())
    client = id and vim.lsp.get_client_by_id(id)
    if not client then
      health.error("the server did not start: " .. (err or "vim.lsp.start returned nothing"),
        { "run the server command by hand to see why", "see :LspLog" })
      return nil
    end
    started_here = true
  end
  if not wait_until_initialized(client) then
    health.error(("the server did not answer `initialize` within %d s"):format(START_TIMEOUT_MS / 1000),
      { "run the server command by hand to see why", "see :LspLog" })
    if started_here then
      lsp.stop(client)
    end
    return nil
  end
  if started_here then
    health.ok(("the server starts (client %d)"):format(client.id))
  else
    local buffers = vim.tbl_count(client.attached_buffers or {})
    health.ok(("codegen-lsp client %d is running (%d buffer%s attached)")
      :format(client.id, buffers, buffers == 1 and "" or "s"))
  end
  return client, started_here
end

local function execute_sync(client, command, arguments, timeout_ms)
  local response, err = lsp.request_sync(client, "workspace/executeCommand",
    { command = command, arguments = arguments }, timeout_ms)
  if not response then
    return nil, err or "no answer"
  end
  if response.err then
    return nil, response.err.message or vim.inspect(response.err)
  end
  return response.result
end

--- codegen.status, once the model has loaded or failed to (it loads in the background).
local function wait_for_status(client)
  -- The adapter is per workspace folder: ask about a file the client serves, if it serves any.
  local bufnr = next(client.attached_buffers or {})
  local uri = bufnr and vim.uri_from_bufnr(bufnr) or vim.uri_from_fname(vim.uv.cwd())
  local status, err
  vim.wait(LOAD_TIMEOUT_MS, function()
    status, err = execute_sync(client, "codegen.status", { uri }, 10000)
    return status == nil or status.state ~= "loading"
  end, 500)
  return status, err
end

local function check_status(client)
  if not lsp.provides(client, "codegen.status") then
    health.warn("this codegen-lsp server does not provide `codegen.status`; the model is not checked",
      { "update codegen-lsp: pip install -U codegen-lsp" })
    return
  end
  local status, err = wait_for_status(client)
  if not status then
    health.error("codegen.status failed: " .. tostring(err), { "see :LspLog" })
    return
  end
  local version = status.version and (" " .. status.version) or ""
  health.info(("codegen-lsp%s; FIM format: %s"):format(version, status.fimFormat or "?"))
  if status.state == "ready" then
    health.ok(("model: %s on %s"):format(status.model or "?", status.device or "?"))
  elseif status.state == "loading" then
    health.warn(("the model is still loading after %d s: %s"):format(LOAD_TIMEOUT_MS / 1000, status.model or "?"))
  else
    local load_error = type(status.loadError) == "string" and status.loadError or "unknown error"
    health.error(("the model did not load: %s"):format(load_error), {
      "check settings.model.path (a local model folder) or CODEGEN_LSP_MODEL",
      "leave the path unset to use the embedded model",
    })
  end
  if status.completionsEnabled == false then
    health.warn("completions are switched off in the server's settings", { "settings.completion.enabled = true" })
  end
  if type(status.adapter) == "string" and status.adapter ~= "" then
    health.ok("adapter: " .. status.adapter)
  else
    health.info("adapter: none (:CodegenTrain fine-tunes one for the workspace)")
  end
end

local function check_ghost_text()
  local plugin = require("codegen_lsp")
  if plugin.uses_native_ghost_text() then
    health.ok("ghost text: Neovim's vim.lsp.inline_completion")
  else
    health.ok("ghost text: the plugin's renderer (extmarks; vim.lsp.inline_completion needs Neovim 0.12)")
  end
  if not plugin.backend().is_enabled() then
    health.warn("ghost text is switched off", { ":CodegenToggle switches it on" })
  end
end

function M.check()
  health.start("codegen-lsp: Neovim")
  check_neovim()
  check_ghost_text()

  health.start("codegen-lsp: server")
  if not check_command() then
    return
  end
  local client, started_here = find_or_start_client()
  if not client then
    return
  end
  check_status(client)
  if started_here then
    lsp.stop(client)
  end
end

return M

-- $/progress from codegen-lsp (actions, training) as messages: start and end are kept in
-- :messages, the steps in between only echo.
local lsp = require("codegen_lsp.lsp")

local M = {}

local titles = {} -- token -> title, since report and end carry none

local function ours(client_id)
  local client = vim.lsp.get_client_by_id(client_id)
  return client ~= nil and client.name == lsp.name
end

local function on_progress(args)
  local data = args.data or {}
  local params = data.params or {}
  local value = params.value
  if type(value) ~= "table" or not ours(data.client_id) then
    return
  end
  local token = tostring(params.token)
  if value.kind == "begin" then
    titles[token] = value.title or "codegen-lsp"
    vim.notify(titles[token] .. "…", vim.log.levels.INFO)
  elseif value.kind == "report" then
    local line = titles[token] or "codegen-lsp"
    if value.message then
      line = line .. ": " .. value.message
    end
    if value.percentage then
      line = line .. (" (%d%%)"):format(value.percentage)
    end
    vim.api.nvim_echo({ { line } }, false, {})
  elseif value.kind == "end" then
    vim.notify((titles[token] or "codegen-lsp") .. ": " .. (value.message or "done"), vim.log.levels.INFO)
    titles[token] = nil
  end
end

function M.setup()
  local group = vim.api.nvim_create_augroup("codegen_lsp_progress", { clear = true })
  vim.api.nvim_create_autocmd("LspProgress", { group = group, callback = on_progress })
end

return M

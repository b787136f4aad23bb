-- User commands: each asks the server (workspace/executeCommand) about the code at the cursor or
-- in a range. Edits come back as workspace/applyEdit, which Neovim applies by itself.
local float = require("codegen_lsp.float")
local handlers = require("codegen_lsp.handlers")
local lsp = require("codegen_lsp.lsp")
local position = require("codegen_lsp.position")

local M = {}

local function warn(message)
  vim.notify("codegen-lsp: " .. message, vim.log.levels.WARN)
end

--- The codegen-lsp client of the current buffer; nil (and a message saying why) when there is none.
local function buffer_client(bufnr)
  local client = lsp.client(bufnr)
  if not client then
    warn(("no codegen-lsp server is attached to this buffer (filetype %q); see :checkhealth codegen_lsp")
      :format(vim.bo[bufnr].filetype))
  end
  return client
end

-- The range a command was given, as (start row, start col, end row, end col), 0-based bytes with an
-- exclusive end: the last visual selection when the command came from it, else whole lines.
local function byte_range(bufnr, opts)
  local function line(row)
    return vim.api.nvim_buf_get_lines(bufnr, row, row + 1, false)[1] or ""
  end
  local first, last = vim.fn.getpos("'<"), vim.fn.getpos("'>")
  local from_visual = first[2] == opts.line1 and last[2] == opts.line2 and vim.fn.visualmode() ~= ""
  if from_visual and vim.fn.visualmode() == "v" then
    local end_row = last[2] - 1
    local end_line = line(end_row)
    local end_col = math.min(last[3], #end_line) -- '> is on the selection's last byte's start
    -- Take the whole last character, however many bytes it has.
    if end_col > 0 and end_col <= #end_line then
      end_col = end_col - 1 + #vim.fn.strcharpart(end_line:sub(end_col), 0, 1)
    end
    return first[2] - 1, math.min(first[3] - 1, #line(first[2] - 1)), end_row, end_col
  end
  return opts.line1 - 1, 0, opts.line2 - 1, #line(opts.line2 - 1)
end

--- The LSP range a command works on: its range, or the cursor (empty range: the server picks the
--- definition around it).
local function lsp_range(bufnr, client, opts)
  local encoding = client.offset_encoding
  if opts.range and opts.range > 0 then
    local start_row, start_col, end_row, end_col = byte_range(bufnr, opts)
    return {
      start = position.to_lsp(bufnr, start_row, start_col, encoding),
      ["end"] = position.to_lsp(bufnr, end_row, end_col, encoding),
    }
  end
  local row, col = unpack(vim.api.nvim_win_get_cursor(0))
  local here = position.to_lsp(bufnr, row - 1, col, encoding)
  return { start = here, ["end"] = here }
end

-- The server has usually shown its own error already (window/showMessage); say it once.
local function report_error(result)
  local message = "codegen-lsp: " .. tostring(result.error)
  if not handlers.shown_recently(message) then
    vim.notify(message, vim.log.levels.WARN)
  end
end

local function on_edit_result(result)
  if type(result) ~= "table" then
    return
  end
  if result.error then
    report_error(result)
  elseif result.applied == false then
    warn("the edit was not applied" .. (result.reason and (": " .. result.reason) or ""))
  end
end

local function on_explain_result(result)
  if type(result) ~= "table" then
    return
  end
  if result.error then
    report_error(result)
  elseif not result.shown and result.markdown then
    -- No workspace folder to write the file in: the Markdown came back in the result instead.
    float.markdown(result.markdown, "codegen-lsp: explain")
  end
end

local function range_action(command, on_result)
  return function(opts)
    local bufnr = vim.api.nvim_get_current_buf()
    local client = buffer_client(bufnr)
    if client then
      lsp.execute(client, command, { vim.uri_from_bufnr(bufnr), lsp_range(bufnr, client, opts) }, on_result, bufnr)
    end
  end
end

local function rewrite(opts)
  local bufnr = vim.api.nvim_get_current_buf()
  local client = buffer_client(bufnr)
  if not client then
    return
  end
  local range = lsp_range(bufnr, client, opts) -- before the prompt moves anything
  local function run(instruction)
    if instruction and vim.trim(instruction) ~= "" then
      lsp.execute(client, "codegen.rewrite", { vim.uri_from_bufnr(bufnr), range, instruction }, on_edit_result, bufnr)
    end
  end
  if opts.args ~= "" then
    run(opts.args)
  else
    vim.ui.input({ prompt = "Rewrite instruction: " }, run)
  end
end

local function workspace_folder_uri(client)
  local folder = client.workspace_folders and client.workspace_folders[1]
  if folder then
    return folder.uri
  end
  return vim.uri_from_fname(client.root_dir or vim.uv.cwd())
end

local function train()
  local client = lsp.client(0) or lsp.client()
  if not client then
    warn("no codegen-lsp server is running; open a file it serves first")
    return
  end
  -- Long: $/progress shows the steps; the server says how it went when it ends.
  lsp.execute(client, "codegen.train", { workspace_folder_uri(client) }, function(result)
    if type(result) == "table" and result.error then
      report_error(result)
    end
  end)
end

local function diagram(opts)
  local bufnr = vim.api.nvim_get_current_buf()
  local client = buffer_client(bufnr)
  if not client then
    return
  end
  local here = lsp_range(bufnr, client, opts).start
  lsp.execute(client, "codegen.diagram", { vim.uri_from_bufnr(bufnr), here }, function(result)
    if type(result) ~= "table" then
      return
    end
    if result.error then
      report_error(result)
    elseif result.mermaid then
      -- The server has opened the Markdown file (window/showDocument); say where the rest went.
      local rendered = result.svg and (" and " .. result.svg) or (result.warning and " (" .. result.warning .. ")" or "")
      vim.notify(("codegen-lsp: diagram written to %s%s"):format(result.mermaid, rendered), vim.log.levels.INFO)
    end
  end, bufnr)
end

--- codegen.status's answer as lines for people.
function M.format_status(status)
  local lines = {
    ("state: %s"):format(status.state or "?"),
    ("model: %s"):format(status.model or "?"),
    ("device: %s"):format(status.device or "?"),
    ("FIM format: %s"):format(status.fimFormat or "?"),
    ("adapter: %s"):format(type(status.adapter) == "string" and status.adapter ~= "" and status.adapter or "none"),
  }
  if type(status.lastLatencyMs) == "number" then
    lines[#lines + 1] = ("last completion: %d ms"):format(status.lastLatencyMs)
  end
  if type(status.loadError) == "string" then
    lines[#lines + 1] = "load error: " .. tostring(status.loadError)
  end
  if type(status.version) == "string" then
    lines[#lines + 1] = "server version: " .. status.version
  end
  return lines
end

local function status()
  local bufnr = vim.api.nvim_get_current_buf()
  local client = lsp.client(bufnr) or lsp.client()
  if not client then
    warn("no codegen-lsp server is running; open a file it serves first")
    return
  end
  lsp.execute(client, "codegen.status", { vim.uri_from_bufnr(bufnr) }, function(result)
    if type(result) == "table" then
      local level = result.state == "error" and vim.log.levels.ERROR or vim.log.levels.INFO
      vim.notify("codegen-lsp\n" .. table.concat(M.format_status(result), "\n"), level)
    end
  end, bufnr)
end

local function toggle()
  local on = require("codegen_lsp").toggle()
  vim.notify("codegen-lsp: ghost text " .. (on and "on" or "off"), vim.log.levels.INFO)
end

function M.register()
  local create = vim.api.nvim_create_user_command
  create("CodegenExplain", range_action("codegen.explain", on_explain_result),
    { range = true, desc = "codegen-lsp: explain the definition at the cursor or the selection" })
  create("CodegenDocstring", range_action("codegen.docstring", on_edit_result),
    { range = true, desc = "codegen-lsp: write a docstring for the definition at the cursor" })
  create("CodegenAnnotate", range_action("codegen.annotate", on_edit_result),
    { range = true, desc = "codegen-lsp: add type annotations to the definition at the cursor" })
  create("CodegenTests", range_action("codegen.tests", on_edit_result),
    { range = true, desc = "codegen-lsp: generate tests for the definition at the cursor" })
  create("CodegenRewrite", rewrite,
    { range = true, nargs = "*", desc = "codegen-lsp: rewrite the definition or selection as instructed" })
  create("CodegenTrain", train, { desc = "codegen-lsp: fine-tune an adapter on this workspace" })
  create("CodegenDiagram", diagram, { range = true, desc = "codegen-lsp: diagram of the code at the cursor" })
  create("CodegenToggle", toggle, { desc = "codegen-lsp: switch ghost text on or off" })
  create("CodegenStatus", status, { desc = "codegen-lsp: the server's model, device and state" })
end

return M

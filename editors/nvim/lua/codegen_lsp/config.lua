-- The plugin's options: defaults, the user's overrides, and what they resolve to.
local M = {}

M.defaults = {
  -- The server command. `python` (a Python executable with codegen-lsp installed) wins over `cmd`.
  cmd = { "codegen-lsp", "serve" },
  python = nil,
  -- Sent as init_options = { codegen = settings } and with workspace/didChangeConfiguration;
  -- camelCase keys, e.g. { model = { path = "~/models/x" }, completion = { maxNewTokens = 64 } }.
  settings = {},
  filetypes = {
    "python", "lua", "javascript", "javascriptreact", "typescript", "typescriptreact", "go", "rust",
    "java", "kotlin", "c", "cpp", "cs", "ruby", "php", "sh", "bash", "zsh", "html", "css", "sql",
  },
  root_markers = { ".git", "pyproject.toml", "setup.py", "package.json", "Cargo.toml", "go.mod", ".hg" },
  ghost_text = {
    enabled = true,
    debounce_ms = 75,
    -- "auto": Neovim's vim.lsp.inline_completion where it exists (0.12+), else the plugin's renderer.
    -- false always uses the plugin's renderer.
    native = "auto",
    -- Per-filetype switch, e.g. { markdown = false }; filetypes not listed follow `enabled`.
    filetypes = {},
  },
  -- Each key may be false to leave it unmapped. The accept and dismiss keys fall back to their
  -- normal meaning when no suggestion is showing, so typing is never blocked.
  keymaps = {
    accept = "<Tab>",
    accept_word = "<M-w>",
    accept_line = "<M-l>",
    dismiss = "<C-]>",
    toggle = "<M-\\>",
  },
}

M.options = vim.deepcopy(M.defaults)

-- vim.validate's signature changed between 0.10 and 0.11; a plain check reads the same on both.
local function check(name, value, expected, optional)
  if (value == nil and optional) or type(value) == expected then
    return
  end
  error(("codegen_lsp.setup: %s should be a %s, got %s"):format(name, expected, vim.inspect(value)), 3)
end
M.did_setup = false

function M.set(user)
  check("options", user, "table", true)
  user = user or {}
  local options = vim.tbl_deep_extend("force", vim.deepcopy(M.defaults), user)
  -- Lists replace the defaults rather than merging into them index by index.
  for _, key in ipairs({ "cmd", "filetypes", "root_markers" }) do
    if user[key] ~= nil then
      options[key] = user[key]
    end
  end
  check("cmd", options.cmd, "table")
  check("python", options.python, "string", true)
  check("settings", options.settings, "table")
  check("filetypes", options.filetypes, "table")
  check("root_markers", options.root_markers, "table")
  check("ghost_text", options.ghost_text, "table")
  check("keymaps", options.keymaps, "table")
  M.options = options
  M.did_setup = true
  return options
end

--- The command that starts the server.
function M.cmd(options)
  options = options or M.options
  if options.python then
    return { vim.fn.expand(options.python), "-m", "codegen_lsp", "serve" }
  end
  return vim.deepcopy(options.cmd)
end

return M

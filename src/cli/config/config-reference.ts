/**
 * Renders docs/configuration.md from the command schemas, so the reference
 * cannot drift from what the CLI accepts (`node --import tsx
 * scripts/generate-config-docs.ts`; a test checks the file is current).
 */
import { envVarOf, type ConfigField, type ConfigSchema } from './config-schema.js';
import { AGENT_CONFIG_SCHEMA } from './agent-config-schema.js';
import { RELAY_CONFIG_SCHEMA } from './relay-config-schema.js';

/** The schemas documented, in order. */
export const DOCUMENTED_SCHEMAS: readonly ConfigSchema[] = [RELAY_CONFIG_SCHEMA, AGENT_CONFIG_SCHEMA];

const TYPE_NAMES: Readonly<Record<ConfigField['type'], string>> = {
  string: 'string',
  path: 'file path',
  listen: 'HOST:PORT',
  hostPort: 'HOST:PORT',
  url: 'URL',
  integer: 'integer',
  boolean: 'boolean',
  enum: 'one of',
  list: 'list',
};

const INTRO = `# Configuration reference

<!-- Generated from src/cli/config/*-config-schema.ts by scripts/generate-config-docs.ts; do not edit by hand. -->

\`visiona-tunnel relay\` and \`visiona-tunnel agent\` take their settings from four
places. For each setting the first one that has it wins:

1. a command-line flag (\`--agent-listen 0.0.0.0:8080\`);
2. an environment variable (\`VISIONA_TUNNEL_AGENT_LISTEN=0.0.0.0:8080\`);
3. a config file given with \`--config FILE\` (or \`VISIONA_TUNNEL_CONFIG\`);
4. the default.

Config files are YAML (\`.yaml\`, \`.yml\`), TOML (\`.toml\`) or JSON (\`.json\`),
chosen by the extension. Keys are the ones in the tables below; a dotted key is
a nested table (\`limits.offlineGraceMs\` is \`limits: { offlineGraceMs: ... }\` in
YAML and \`[limits]\` then \`offlineGraceMs = ...\` in TOML). Relative file paths
in a config file are taken from the file's folder. Lists are written
\`a,b\` in flags and variables and as lists in files. Durations are in
milliseconds.

Every value is checked before anything starts: an unknown key, a value of the
wrong type or out of range stops the command with exit code 2 and a message
that names the setting and the value, for example:

\`\`\`
visiona-tunnel: Invalid option limits.offlineGraceMs in relay.yaml: must be an integer between 0 and 3600000 (got: -1)
\`\`\`

Tokens are never read from config files: give the agent \`tokenFile\` (or
\`VISIONA_TUNNEL_TOKEN\`). Logging is set with \`VISIONA_TUNNEL_LOG_LEVEL\`
(\`debug\`, \`info\`, \`warn\`, \`error\`) and \`VISIONA_TUNNEL_LOG_FORMAT\`
(\`json\`, or \`pretty\`, the default on a terminal).

## Examples

\`relay.yaml\`:

\`\`\`yaml
agentListen: 127.0.0.1:8080      # behind nginx/Caddy; 0.0.0.0:443 with tlsCert/tlsKey to face the internet
domain: tunnel.example.com
db: /var/lib/visiona-tunnel/relay.db
trustProxy: [127.0.0.1]
adminListen: 127.0.0.1:9090
limits:
  offlineGraceMs: 10000
  maxStreamsPerAgent: 256
\`\`\`

The same in \`relay.toml\`:

\`\`\`toml
agentListen = "127.0.0.1:8080"
domain = "tunnel.example.com"
db = "/var/lib/visiona-tunnel/relay.db"
trustProxy = ["127.0.0.1"]
adminListen = "127.0.0.1:9090"

[limits]
offlineGraceMs = 10000
maxStreamsPerAgent = 256
\`\`\`

\`agent.yaml\`:

\`\`\`yaml
relay: wss://tunnel.example.com/tunnel/connect
local: 127.0.0.1:3000
tokenFile: /etc/visiona-tunnel/token
statusListen: 127.0.0.1:4040
\`\`\`

An agent that starts its local service itself (\`local\` may then be left out:
the service gets a free port as \`PORT\` and is reached at \`127.0.0.1:PORT\`):

\`\`\`yaml
relay: wss://tunnel.example.com/tunnel/connect
tokenFile: /etc/visiona-tunnel/token
spawn: node server.js
\`\`\`
`;

/** The whole docs/configuration.md text. */
export function renderConfigReference(schemas: readonly ConfigSchema[] = DOCUMENTED_SCHEMAS): string {
  const parts = [INTRO];
  for (const schema of schemas) {
    parts.push(`\n## \`${schema.command}\`\n\n${schema.summary}\n`);
    parts.push('| key | flag | environment variable | type | default | description |');
    parts.push('| --- | --- | --- | --- | --- | --- |');
    for (const f of schema.fields) {
      const cells = [
        `\`${f.key}\``,
        f.flag === undefined ? '' : `\`--${f.flag}\``,
        `\`${envVarOf(f)}\``,
        typeCell(f),
        f.required === true ? '**required**' : defaultCell(f),
        f.description.replace(/\|/g, '\\|'),
      ];
      parts.push(`| ${cells.join(' | ')} |`);
    }
  }
  parts.push('');
  return parts.join('\n');
}

function typeCell(f: ConfigField): string {
  const name = TYPE_NAMES[f.type];
  if (f.type === 'enum') return `${name} ${(f.values ?? []).map((v) => `\`${v}\``).join(', ')}`;
  if (f.type === 'integer' && (f.min !== undefined || f.max !== undefined)) {
    return f.max === undefined ? `${name} ≥ ${f.min}` : `${name} ${f.min ?? ''}..${f.max}`;
  }
  if (f.type === 'listen') return `${name} (listen; port 0 = any)`;
  return name;
}

function defaultCell(f: ConfigField): string {
  if (f.default === undefined) return '';
  if (Array.isArray(f.default)) return f.default.length === 0 ? '(none)' : `\`${f.default.join(',')}\``;
  return `\`${String(f.default)}\``;
}

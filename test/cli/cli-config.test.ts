/**
 * Settings of relay and agent: precedence flags > environment > config file >
 * defaults, YAML/TOML/JSON files, and validation errors that name the setting
 * and the bad value.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parseCommandArgs } from '../../src/cli/cli-context.js';
import { AGENT_CONFIG_SCHEMA } from '../../src/cli/config/agent-config-schema.js';
import { renderConfigReference } from '../../src/cli/config/config-reference.js';
import { envVarOf, flagOptionsOf } from '../../src/cli/config/config-schema.js';
import { CONFIG_FLAG_OPTION, loadCommandSettings } from '../../src/cli/config/load-command-settings.js';
import { RELAY_CONFIG_SCHEMA, type RelaySettings } from '../../src/cli/config/relay-config-schema.js';
import { relayOptionsFromSettings } from '../../src/cli/config/relay-options.js';
import { main } from '../../src/cli/main.js';
import { DEFAULT_RELAY_CLOSE_GRACE_MS, DEFAULT_RELAY_LIMITS } from '../../src/relay/index.js';
import { ConfigError, TunnelError } from '../../src/shared/errors.js';
import { noopLogger } from '../../src/shared/logger.js';
import { REPO_ROOT, tempDir } from './cli-fixtures.js';

const RELAY_OPTIONS = { ...flagOptionsOf(RELAY_CONFIG_SCHEMA), ...CONFIG_FLAG_OPTION };
const AGENT_OPTIONS = { ...flagOptionsOf(AGENT_CONFIG_SCHEMA), ...CONFIG_FLAG_OPTION };
const REQUIRED = ['--agent-listen', '127.0.0.1:0', '--domain', 'tunnel.test', '--db', ':memory:'];

function relaySettings(args: string[], env: NodeJS.ProcessEnv = {}): { values: RelaySettings; sources: Readonly<Record<string, string>> } {
  return loadCommandSettings(RELAY_CONFIG_SCHEMA, parseCommandArgs(args, RELAY_OPTIONS, env), env);
}

function write(dir: string, name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

/** Asserts that `fn` throws a config error whose message matches every pattern. */
function assertConfigError(fn: () => unknown, patterns: RegExp[], what: string): void {
  assert.throws(
    fn,
    (err: unknown) => {
      assert.ok(err instanceof TunnelError && err.code === 'ERR_CONFIG_INVALID', `${what}: a config error (got ${String(err)})`);
      for (const p of patterns) assert.match(err.message, p, `${what}: the message matches ${p}`);
      return true;
    },
    what,
  );
}

describe('relay and agent settings', () => {
  describe('precedence', () => {
    it('takes a flag over the environment, the environment over the config file, the file over the default', (t) => {
      const dir = tempDir(t);
      const file = write(dir, 'relay.yaml', 'graceMs: 300\n');
      const env = { VISIONA_TUNNEL_GRACE_MS: '200' };
      const all = relaySettings([...REQUIRED, '--config', file, '--grace-ms', '100'], env);
      assert.equal(all.values.graceMs, 100, 'the flag wins over everything');
      assert.equal(all.sources.graceMs, 'flag', 'the source is the flag');
      const noFlag = relaySettings([...REQUIRED, '--config', file], env);
      assert.equal(noFlag.values.graceMs, 200, 'the environment wins over the file');
      assert.equal(noFlag.sources.graceMs, 'env', 'the source is the environment');
      const fileOnly = relaySettings([...REQUIRED, '--config', file]);
      assert.equal(fileOnly.values.graceMs, 300, 'the file wins over the default');
      assert.equal(fileOnly.sources.graceMs, 'file', 'the source is the file');
      const none = relaySettings(REQUIRED);
      assert.equal(none.values.graceMs, DEFAULT_RELAY_CLOSE_GRACE_MS, 'the default applies last');
      assert.equal(none.sources.graceMs, 'default', 'the source is the default');
    });

    it('reads settings without a flag from their environment variable before the config file', (t) => {
      const dir = tempDir(t);
      const file = write(dir, 'relay.yaml', 'limits:\n  offlineGraceMs: 700\n  maxStreamsPerAgent: 7\n');
      const { values, sources } = relaySettings([...REQUIRED, '--config', file], { VISIONA_TUNNEL_LIMITS_OFFLINE_GRACE_MS: '50' });
      assert.equal(values['limits.offlineGraceMs'], 50, 'the variable wins over the file');
      assert.equal(sources['limits.offlineGraceMs'], 'env', 'the source is the environment');
      assert.equal(values['limits.maxStreamsPerAgent'], 7, 'the file sets what the environment does not');
      assert.equal(values['limits.keepAliveIntervalMs'], DEFAULT_RELAY_LIMITS.keepAliveIntervalMs, 'the rest keeps the defaults');
    });

    it('takes required settings from the config file and the config path from VISIONA_TUNNEL_CONFIG', (t) => {
      const dir = tempDir(t);
      const file = write(dir, 'relay.yaml', 'agentListen: 127.0.0.1:0\ndomain: from-file.test\ndb: relay.db\n');
      const { values } = relaySettings([], { VISIONA_TUNNEL_CONFIG: file, VISIONA_TUNNEL_DOMAIN: 'from-env.test' });
      assert.equal(values.agentListen, '127.0.0.1:0', 'agentListen comes from the file');
      assert.equal(values.domain, 'from-env.test', 'the environment overrides the file for domain');
      assert.equal(values.db, join(dir, 'relay.db'), 'a relative path in the file is taken from the file folder');
    });

    it('names every way to give a missing required setting', () => {
      assert.throws(
        () => relaySettings(['--agent-listen', '127.0.0.1:0', '--db', ':memory:']),
        /--domain or VISIONA_TUNNEL_DOMAIN or domain in --config FILE is required/,
        'a missing domain names its flag, variable and key',
      );
    });

    it('derives environment variable names from flags, or from keys without a flag', () => {
      const field = (key: string) => RELAY_CONFIG_SCHEMA.fields.find((f) => f.key === key)!;
      assert.equal(envVarOf(field('agentListen')), 'VISIONA_TUNNEL_AGENT_LISTEN', 'from the flag');
      assert.equal(envVarOf(field('limits.authRateLimit.maxFailures')), 'VISIONA_TUNNEL_LIMITS_AUTH_RATE_LIMIT_MAX_FAILURES', 'from the key');
    });
  });

  describe('config files', () => {
    it('reads the same settings from YAML, TOML and JSON', (t) => {
      const dir = tempDir(t);
      const yaml = write(dir, 'relay.yml', 'trustProxy: [10.0.0.1, 10.0.0.0/8]\nlimits:\n  offlineGraceMs: 1234\n  authRateLimit:\n    maxFailures: 3\n');
      const toml = write(dir, 'relay.toml', 'trustProxy = ["10.0.0.1", "10.0.0.0/8"]\n[limits]\nofflineGraceMs = 1234\n[limits.authRateLimit]\nmaxFailures = 3\n');
      const json = write(dir, 'relay.json', JSON.stringify({ trustProxy: ['10.0.0.1', '10.0.0.0/8'], limits: { offlineGraceMs: 1234, authRateLimit: { maxFailures: 3 } } }));
      for (const file of [yaml, toml, json]) {
        const { values } = relaySettings([...REQUIRED, '--config', file]);
        assert.deepEqual(values.trustProxy, ['10.0.0.1', '10.0.0.0/8'], `${file}: the list is read`);
        assert.equal(values['limits.offlineGraceMs'], 1234, `${file}: a nested key is read`);
        assert.equal(values['limits.authRateLimit.maxFailures'], 3, `${file}: a doubly nested key is read`);
      }
    });

    it('builds the Relay options from the settings (limits, trusted proxies, TLS files)', (t) => {
      const dir = tempDir(t);
      write(dir, 'cert.pem', 'CERT');
      write(dir, 'key.pem', 'KEY');
      const file = write(dir, 'relay.yaml', 'tlsCert: cert.pem\ntlsKey: key.pem\nlimits:\n  offlineGraceMs: 42\n');
      const { values } = relaySettings([...REQUIRED, '--config', file, '--trust-proxy', '127.0.0.1, ::1']);
      const options = relayOptionsFromSettings(values, noopLogger);
      assert.deepEqual(options.trustProxy, ['127.0.0.1', '::1'], '--trust-proxy is split on commas');
      assert.equal(options.limits?.offlineGraceMs, 42, 'limits pass through');
      assert.equal(options.tls?.cert.toString(), 'CERT', 'the certificate is read from beside the config file');
      assert.equal(options.tls?.key.toString(), 'KEY', 'the key is read from beside the config file');
    });

    it('accepts an empty config file', (t) => {
      const dir = tempDir(t);
      const { values } = relaySettings([...REQUIRED, '--config', write(dir, 'empty.yaml', '')]);
      assert.equal(values.graceMs, DEFAULT_RELAY_CLOSE_GRACE_MS, 'defaults apply');
    });
  });

  describe('validation errors', () => {
    it('names the key, the file and the value of an out-of-range number', (t) => {
      const file = write(tempDir(t), 'relay.yaml', 'limits:\n  offlineGraceMs: -1\n');
      assertConfigError(
        () => relaySettings([...REQUIRED, '--config', file]),
        [/limits\.offlineGraceMs in relay\.yaml/, /between 0 and 3600000/, /\(got: -1\)$/],
        'negative offline grace',
      );
    });

    it('names the key and the value of a wrong type', (t) => {
      const file = write(tempDir(t), 'relay.toml', 'graceMs = "soon"\n');
      assertConfigError(() => relaySettings([...REQUIRED, '--config', file]), [/graceMs in relay\.toml: must be an integer/, /\(got: "soon"\)$/], 'string for an integer');
      const list = write(tempDir(t), 'relay.yaml', 'trustProxy: [1, 2]\n');
      assertConfigError(() => relaySettings([...REQUIRED, '--config', list]), [/trustProxy in relay\.yaml: must be a list of strings/, /\[1,2\]/], 'numbers in a list');
    });

    it('rejects an unknown key and suggests the right spelling', (t) => {
      const file = write(tempDir(t), 'relay.yaml', 'agent-listen: 0.0.0.0:8080\n');
      assertConfigError(
        () => relaySettings([...REQUIRED, '--config', file]),
        [/agent-listen in relay\.yaml: is not a relay setting \(did you mean agentListen\?\)/, /\(got: "0\.0\.0\.0:8080"\)$/],
        'flag spelling used as a key',
      );
      const typo = write(tempDir(t), 'relay.yaml', 'limits:\n  offlineGrace: 5\n');
      assertConfigError(() => relaySettings([...REQUIRED, '--config', typo]), [/limits\.offlineGrace in relay\.yaml: is not a relay setting/], 'unknown nested key');
    });

    it('never reads an agent token from a config file, nor echoes it', (t) => {
      const file = write(tempDir(t), 'agent.yaml', 'relay: ws://127.0.0.1:1/tunnel/connect\ntoken: s3cr3t-value\n');
      const parsed = parseCommandArgs(['--config', file], AGENT_OPTIONS, {});
      assert.throws(
        () => loadCommandSettings(AGENT_CONFIG_SCHEMA, parsed, {}),
        (err: unknown) => err instanceof ConfigError && /token in agent\.yaml: is not read from config files/.test(err.message) && !err.message.includes('s3cr3t'),
        'the token key is refused without showing its value',
      );
    });

    it('refuses adminToken in a relay config file of any format, naming adminTokenFile and VISIONA_TUNNEL_ADMIN_TOKEN instead', (t) => {
      const dir = tempDir(t);
      const files = [
        write(dir, 'relay.yaml', 'adminToken: yaml-admin-secret-0123\n'),
        write(dir, 'relay.toml', 'adminToken = "toml-admin-secret-0123"\n'),
        write(dir, 'relay.json', '{"adminToken": "json-admin-secret-0123"}\n'),
      ];
      for (const file of files) {
        const name = file.slice(dir.length + 1);
        assertConfigError(
          () => relaySettings([...REQUIRED, '--config', file]),
          [
            new RegExp(`adminToken in ${name.replace('.', '\\.')}: is not read from config files`),
            /use adminTokenFile or VISIONA_TUNNEL_ADMIN_TOKEN/,
            /\(got: "?\[redacted\]"?\)$/,
          ],
          `adminToken in ${name}`,
        );
        assert.throws(
          () => relaySettings([...REQUIRED, '--config', file]),
          (err: unknown) => err instanceof Error && !err.message.includes('admin-secret'),
          `the value of adminToken in ${name} is not shown`,
        );
      }
    });

    it('never echoes the value of an unknown key that looks secret', (t) => {
      const file = write(tempDir(t), 'relay.yaml', 'adminToken: very-secret-admin-token\napiKey: another-secret\n');
      assert.throws(
        () => relaySettings([...REQUIRED, '--config', file]),
        (err: unknown) => err instanceof ConfigError && /adminToken in relay\.yaml: is not read from config files/.test(err.message) && !err.message.includes('very-secret'),
        'the admin token key is refused without showing its value',
      );
      const other = write(tempDir(t), 'relay.yaml', 'apiKey: another-secret\n');
      assert.throws(
        () => relaySettings([...REQUIRED, '--config', other]),
        (err: unknown) => err instanceof ConfigError && /apiKey in relay\.yaml: is not a relay setting/.test(err.message) && !err.message.includes('another-secret'),
        'an unknown secret-looking key is named but its value is not shown',
      );
    });

    it('names the flag or the variable of a bad value given as text', () => {
      assertConfigError(() => relaySettings([...REQUIRED, '--grace-ms', '10s']), [/--grace-ms: must be an integer/, /\(got: "10s"\)$/], 'bad flag');
      assertConfigError(
        () => relaySettings(REQUIRED, { VISIONA_TUNNEL_LIMITS_MAX_STREAMS_PER_AGENT: '0' }),
        [/VISIONA_TUNNEL_LIMITS_MAX_STREAMS_PER_AGENT: must be an integer between 1 and 1000000/, /\(got: 0\)$/],
        'bad variable',
      );
      assertConfigError(
        () => relaySettings(['--agent-listen', 'localhost', '--domain', 'd.test', '--db', 'x.db']),
        [/--agent-listen: must be HOST:PORT/, /\(got: "localhost"\)$/],
        'listen address without port',
      );
      assertConfigError(
        () => relaySettings(['--domain', 'd.test', '--db', 'x.db'], { VISIONA_TUNNEL_AGENT_LISTEN: '1.2.3.4:99999' }),
        [/VISIONA_TUNNEL_AGENT_LISTEN: has an invalid port/],
        'port out of range in the environment',
      );
    });

    it('rejects unreadable, unparsable and unsupported config files, naming the file', (t) => {
      const dir = tempDir(t);
      assertConfigError(() => relaySettings([...REQUIRED, '--config', join(dir, 'missing.yaml')]), [/config: cannot be read \(ENOENT\)/, /missing\.yaml/], 'missing file');
      const badYaml = write(dir, 'bad.yaml', 'limits: [\n');
      assertConfigError(() => relaySettings([...REQUIRED, '--config', badYaml]), [/config: is not valid YAML/, /bad\.yaml/], 'bad YAML');
      const badToml = write(dir, 'bad.toml', 'graceMs = = 1\n');
      assertConfigError(() => relaySettings([...REQUIRED, '--config', badToml]), [/config: is not valid TOML/], 'bad TOML');
      const ini = write(dir, 'relay.ini', 'graceMs=1\n');
      assertConfigError(() => relaySettings([...REQUIRED, '--config', ini]), [/must be a \.yaml, \.yml, \.toml or \.json file/], 'unknown extension');
      const list = write(dir, 'list.yaml', '- a\n- b\n');
      assertConfigError(() => relaySettings([...REQUIRED, '--config', list]), [/must hold a mapping of settings/], 'a list at the top level');
    });

    it('requires tlsCert and tlsKey together', () => {
      const { values } = relaySettings([...REQUIRED, '--tls-cert', '/nonexistent/cert.pem']);
      assertConfigError(() => relayOptionsFromSettings(values, noopLogger), [/tlsKey: is required with tlsCert/], 'certificate without key');
    });

    it('makes the relay command exit 2 and print the setting and the value', async (t) => {
      const file = write(tempDir(t), 'relay.yaml', 'limits:\n  keepAliveIntervalMs: fast\n');
      let stderr = '';
      const code = await main(['relay', ...REQUIRED, '--config', file], {
        env: {},
        stdout: () => {},
        stderr: (text) => (stderr += text),
        signal: new AbortController().signal,
        isTty: false,
      });
      assert.equal(code, 2, 'a configuration error exits 2');
      assert.match(stderr, /limits\.keepAliveIntervalMs in relay\.yaml: must be an integer \(got: "fast"\)/, 'stderr names the key and the value');
    });

    it('makes the agent command exit 2 without --local or --spawn', async () => {
      let stderr = '';
      const code = await main(['agent', '--relay', 'ws://127.0.0.1:9/tunnel/connect'], {
        env: { VISIONA_TUNNEL_TOKEN: 'x' },
        stdout: () => {},
        stderr: (text) => (stderr += text),
        signal: new AbortController().signal,
        isTty: false,
      });
      assert.equal(code, 2, 'exit code 2');
      assert.match(stderr, /--local HOST:PORT \(or --spawn COMMAND\) is required/, 'the missing setting is named');
    });
  });

  it('keeps docs/configuration.md generated from the schema', () => {
    const onDisk = readFileSync(join(REPO_ROOT, 'docs', 'configuration.md'), 'utf8');
    assert.equal(onDisk, renderConfigReference(), 'docs/configuration.md is current (run node --import tsx scripts/generate-config-docs.ts)');
  });
});

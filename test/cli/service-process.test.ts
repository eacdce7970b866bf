/**
 * ServiceProcess (`agent --spawn`): a tiny node HTTP server as the child, on a
 * free loopback port passed as PORT.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { describe, it } from 'node:test';
import { isProcessAlive } from '../../src/cli/spawn/process-group.js';
import { ServiceProcess, type ServiceExit } from '../../src/cli/spawn/service-process.js';
import { createSinkLogger, type LogRecord } from '../../src/shared/logger.js';
import { AbortError } from '../../src/shared/errors.js';
import { httpGet, waitFor } from './cli-fixtures.js';

const node = JSON.stringify(process.execPath);
/** Serves 'hi' and its PORT; prints one line on stdout and one on stderr once listening. */
const HELLO_SERVER = `${node} -e "const p=process.env.PORT;require('http').createServer((q,s)=>s.end('hi '+p+' '+(process.env.VISIONA_TUNNEL_TOKEN??'no-token'))).listen(p,'127.0.0.1',()=>{console.log('listening on '+p);console.error('stderr line')})"`;
/** Ignores SIGTERM (must be killed). */
const STUBBORN_SERVER = `${node} -e "process.on('SIGTERM',()=>console.log('ignoring SIGTERM'));console.log('pid '+process.pid);require('http').createServer((q,s)=>s.end('hi')).listen(process.env.PORT,'127.0.0.1')"`;
/** Never listens. */
const SILENT_CHILD = `${node} -e "setInterval(()=>{},1000)"`;

function newService(command: string, logs: LogRecord[] = [], extra: Partial<ConstructorParameters<typeof ServiceProcess>[0]> = {}) {
  return new ServiceProcess({
    command,
    env: { ...process.env, VISIONA_TUNNEL_TOKEN: 'secret-agent-token' },
    logger: createSinkLogger((r) => logs.push(r)),
    restartInitialMs: 20,
    restartMaxMs: 100,
    probeIntervalMs: 20,
    stopGraceMs: 2_000,
    ...extra,
  });
}

describe('ServiceProcess', () => {
  it('starts the command with a free loopback PORT and resolves once the port accepts connections', async (t) => {
    const service = newService(HELLO_SERVER);
    t.after(() => service.stop());
    const address = await service.start();
    assert.match(address, /^127\.0\.0\.1:\d+$/, 'the address is on 127.0.0.1');
    assert.ok(service.port > 0, 'a port was picked');
    const res = await httpGet(`http://${address}/`);
    assert.equal(res.status, 200, 'the service answers at the resolved address');
    assert.equal(res.body, `hi ${service.port} no-token`, 'the service got PORT and not the agent token');
  });

  it('forwards the stdout and stderr lines of the child to the log', async (t) => {
    const logs: LogRecord[] = [];
    const service = newService(HELLO_SERVER, logs);
    t.after(() => service.stop());
    await service.start();
    await waitFor(() => logs.some((r) => r.msg === 'stderr line'));
    const out = logs.find((r) => r.msg === `listening on ${service.port}`);
    assert.equal(out?.fields.stream, 'stdout', 'the stdout line is logged with stream=stdout');
    assert.equal(logs.find((r) => r.msg === 'stderr line')?.fields.stream, 'stderr', 'the stderr line is logged with stream=stderr');
    assert.equal(out?.fields.component, 'service', 'output lines are scoped to the service');
  });

  it('restarts the child with backoff on the same port when it exits', async (t) => {
    const service = newService(HELLO_SERVER);
    t.after(() => service.stop());
    await service.start();
    const firstPid = service.pid as number;
    const scheduled = once(service, 'restart-scheduled');
    const readyAgain = once(service, 'ready');
    process.kill(firstPid, 'SIGKILL');
    const [restart] = (await scheduled) as [{ attempt: number; delayMs: number }];
    assert.equal(restart.attempt, 1, 'the first restart is attempt 1');
    assert.ok(restart.delayMs >= 16 && restart.delayMs <= 24, 'the first delay is the backoff base within jitter');
    await readyAgain;
    assert.notEqual(service.pid, firstPid, 'a new child runs');
    assert.equal(service.restarts, 1, 'one restart is counted');
    const res = await httpGet(`http://${service.address}/`);
    assert.equal(res.body, `hi ${service.port} no-token`, 'the restarted child serves on the same port');
  });

  it('backs off further when the child keeps exiting before it is ready', async (t) => {
    const service = newService(`${node} -e "process.exit(3)"`);
    t.after(() => service.stop());
    const starting = service.start();
    starting.catch(() => {});
    const attempts: number[] = [];
    const exits: ServiceExit[] = [];
    service.on('exit', (e: ServiceExit) => exits.push(e));
    service.on('restart-scheduled', (r: { attempt: number }) => attempts.push(r.attempt));
    await waitFor(() => attempts.length >= 3);
    assert.deepEqual(attempts.slice(0, 3), [1, 2, 3], 'the attempt grows with each early exit');
    assert.equal(exits[0]?.code, 3, 'the exit code is reported');
    await service.stop();
    await assert.rejects(starting, AbortError, 'start() rejects when stopped before the service was ready');
  });

  it('stops the child with SIGTERM', async (t) => {
    const service = newService(HELLO_SERVER);
    t.after(() => service.stop());
    await service.start();
    const exit = once(service, 'exit');
    await service.stop();
    const [info] = (await exit) as [ServiceExit];
    assert.equal(info.signal, 'SIGTERM', 'the child ended by SIGTERM');
    assert.equal(service.pid, undefined, 'no child runs after stop()');
    await service.stop();
  });

  it('kills a child that ignores SIGTERM after the grace period', async (t) => {
    const logs: LogRecord[] = [];
    const service = newService(STUBBORN_SERVER, logs, { stopGraceMs: 300 });
    t.after(() => service.stop());
    await service.start();
    await waitFor(() => logs.some((r) => r.msg.startsWith('pid ')));
    const pid = Number(logs.find((r) => r.msg.startsWith('pid '))?.msg.slice(4));
    await service.stop();
    assert.ok(logs.some((r) => r.msg === 'ignoring SIGTERM'), 'the service saw SIGTERM first');
    assert.ok(logs.some((r) => r.msg.startsWith('local service did not stop in time')), 'the kill is logged');
    assert.equal(isProcessAlive(pid), false, 'the service process is gone after stop()');
  });

  it('does not restart a child after stop()', async (t) => {
    const service = newService(HELLO_SERVER);
    t.after(() => service.stop());
    await service.start();
    let scheduled = 0;
    service.on('restart-scheduled', () => scheduled++);
    await service.stop();
    assert.equal(scheduled, 0, 'no restart was scheduled');
    await assert.rejects(service.start(), AbortError, 'a stopped service cannot start again');
  });

  it('lets an AbortSignal abandon the wait for readiness', async (t) => {
    const service = newService(SILENT_CHILD);
    t.after(() => service.stop());
    const controller = new AbortController();
    const starting = service.start({ signal: controller.signal });
    await waitFor(() => service.pid !== undefined);
    controller.abort();
    await assert.rejects(starting, AbortError, 'start() rejects with AbortError');
    const exit = once(service, 'exit');
    await service.stop();
    assert.equal(((await exit) as [ServiceExit])[0].signal, 'SIGTERM', 'the child is stopped by stop()');
  });
});

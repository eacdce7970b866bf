/**
 * Defines the transparency suite for one cell: starts the cell once, runs
 * every case against it, stops it. Each `*.test.ts` file next to this one is
 * one cell, so the four cells run as separate test files.
 */
import { after, before, describe } from 'node:test';
import { requireRefBinary } from '../../helpers/ref-process.js';
import { interopSkip, type InteropBinary } from '../../helpers/interop-skip.js';
import { CleanupScope } from '../../relay/relay-fixtures.js';
import { cellName, startCell, type CellSpec, type TransparencyCell } from './transparency-cells.js';
import { expectContinueCases } from './expect-continue-cases.js';
import { framingCases } from './framing-cases.js';
import { headerCases } from './header-cases.js';
import { streamingCases } from './streaming-cases.js';

/** The cases, by topic, each given the cell's spec (for pinned Go behaviour) and a getter of the running cell. */
const CASES: ReadonlyArray<(spec: CellSpec, cellOf: () => TransparencyCell) => void> = [expectContinueCases, framingCases, headerCases, streamingCases];

/** `describe()`s the whole suite against `spec`'s cell. */
export function defineTransparencySuite(spec: CellSpec): void {
  const needs: InteropBinary[] = [...(spec.agent === 'go' ? ['ref-agent' as const] : []), ...(spec.relay === 'go' ? ['ref-relay' as const] : [])];
  describe(`HTTP transparency: ${cellName(spec)}`, { skip: interopSkip(...needs) }, () => {
    const scope = new CleanupScope();
    let cell: TransparencyCell | undefined;
    before(async () => {
      if (spec.agent === 'go') requireRefBinary('ref-agent');
      if (spec.relay === 'go') requireRefBinary('ref-relay');
      cell = await startCell(scope, spec);
    });
    after(() => scope.run());
    const cellOf = (): TransparencyCell => {
      if (cell === undefined) throw new Error('the cell did not start');
      return cell;
    };
    for (const cases of CASES) cases(spec, cellOf);
  });
}

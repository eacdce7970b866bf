// @ts-check
/** The cluster strip: each relay node, ready or draining, its agents and the health of its peer links. */
import { formatCount, formatRtt } from './format.js';
import { html } from './view.js';

/** @param {{ nodes: any[] | null }} props */
export function ClusterStrip({ nodes }) {
  if (nodes === null) return null;
  return html`<section class="cluster" aria-label="Relay cluster" id="cluster">
    ${nodes.map(
      (node) => html`<div class=${node.isLocal === true ? 'node local' : 'node'} key=${node.id} data-node=${node.id}>
        <span class="id">${node.id}</span><span class=${`pill ${node.state}`}>${node.state}</span>
        ${node.isLocal === true ? html` <span class="muted">(this node)</span>` : null}
        <div class="links">${formatCount(node.agents)} agents ·
          ${node.peerLinks.length === 0
            ? ' no peer links'
            : node.peerLinks.map(
                (/** @type {any} */ link) =>
                  html` <span class=${link.healthy ? '' : 'link-bad'} key=${link.node}>${link.node} ${link.healthy ? formatRtt(link.rttMs ?? null) : 'down'}</span>`,
              )}
        </div>
      </div>`,
    )}
  </section>`;
}

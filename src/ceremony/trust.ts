import type { SetupProvenance } from '../prover/setup.ts';

/** Who made a key's phase 2, as a verdict shows it. */
export interface Phase2Trust {
  /** 'service': only the proving service's own contribution and beacon; 'ceremony': a REST ceremony; 'external': a key made elsewhere. */
  kind: 'service' | 'ceremony' | 'external';
  /** Contributions other than the beacon. */
  contributions: number;
  label: string;
}

const SERVICE_NAME = /^zkinfer phase 2 /;

/**
 * Labels a version's phase 2 from its provenance: a key whose only contributions are the
 * service's own says so (whoever ran the service could forge proofs); a ceremony's names
 * how many contributions it had. `zkinfer audit` checks the chain itself.
 */
export function phase2Trust(setup: Pick<SetupProvenance, 'phase2' | 'ceremony'>): Phase2Trust {
  if (setup.ceremony) {
    const n = setup.ceremony.contributions.length;
    return {
      kind: 'ceremony',
      contributions: n,
      label: `phase 2 from a ceremony: ${n} contribution(s) (${setup.ceremony.contributions.map((c) => c.name).join(', ')}) and a public beacon; the key is sound if one contributor destroyed their entropy`,
    };
  }
  const own = setup.phase2.filter((c) => !/beacon/.test(c.name));
  if (setup.phase2.length > 0 && setup.phase2.every((c) => SERVICE_NAME.test(c.name))) {
    return { kind: 'service', contributions: own.length, label: "phase 2 made by the proving service alone (its contribution and beacon): whoever ran that setup could forge proofs" };
  }
  return { kind: 'external', contributions: own.length, label: `phase 2 made outside this service: ${setup.phase2.length} contribution(s); check them with zkinfer audit` };
}

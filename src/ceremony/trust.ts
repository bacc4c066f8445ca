import type { SetupProvenance } from '../bundle/format.ts';

/** Who made a key's phase 2, as a verdict shows it. */
export interface Phase2Trust {
  /** 'service': only the proving service's own contribution and beacon; 'ceremony': a REST ceremony; 'external': a key made elsewhere. */
  kind: 'service' | 'ceremony' | 'external';
  /** Contributions other than the beacon. */
  contributions: number;
  /**
   * Of those, how many the service recorded as uploaded with a key other than the model
   * owner's (a contributor key, or another tenant's): null when the service has no record
   * of who made them. A contribution's name is chosen by whoever made it and counts for nothing.
   */
  independent: number | null;
  label: string;
}

const SERVICE_NAME = /^zkinfer phase 2 /;

/** "role:tenant" of an upload: independent of the owner when made with a contributor key or by another tenant. */
function independentOf(owner: string | undefined, uploadedBy: string): boolean {
  const [role, tenant] = uploadedBy.split(':');
  return role === 'contributor' || (owner !== undefined && tenant !== owner);
}

/**
 * Labels a version's phase 2 from its provenance: a key whose only contributions are the
 * service's own says so (whoever ran the service could forge proofs); a ceremony's names
 * each contribution with who uploaded it, as the service recorded it, beside its
 * self-chosen name. `zkinfer audit` checks the chain itself.
 */
export function phase2Trust(setup: Pick<SetupProvenance, 'phase2' | 'ceremony'>, ownerTenant?: string): Phase2Trust {
  if (setup.ceremony) {
    const cs = setup.ceremony.contributions;
    const independent = cs.filter((c) => independentOf(ownerTenant, c.uploadedBy)).length;
    return {
      kind: 'ceremony',
      contributions: cs.length,
      independent,
      label: `phase 2 from a ceremony: ${cs.length} contribution(s), ${independent} uploaded with a key other than the model owner's (${cs
        .map((c) => `"${c.name}" (a self-chosen name), uploaded by ${c.uploadedBy}${independentOf(ownerTenant, c.uploadedBy) ? '' : ', the owner'}`)
        .join('; ')}) and a public beacon; the key is sound if one contributor destroyed their entropy`,
    };
  }
  const own = setup.phase2.filter((c) => !/beacon/.test(c.name));
  if (setup.phase2.length > 0 && setup.phase2.every((c) => SERVICE_NAME.test(c.name))) {
    return {
      kind: 'service',
      contributions: own.length,
      independent: 0,
      label: 'phase 2 made by the proving service alone (its contribution and beacon): whoever ran that setup could forge proofs',
    };
  }
  return {
    kind: 'external',
    contributions: own.length,
    independent: null,
    label: `phase 2 made outside this service: ${setup.phase2.length} contribution(s); check them with zkinfer audit`,
  };
}

// No imports: this module is loaded by browser verifiers too (through phase1.ts, which
// names a key's phase 1 from these points).

/**
 * The public secrets of every zkinfer development powers of tau. Each is
 * sha256(`${DEV_PTAU_SECRET_PREFIX}${name}`) read as a big-endian integer, mod the
 * BN254 scalar field order r. Anyone can recompute them, so anyone can forge proofs
 * for a key built on a development ptau: that is the point of publishing them. It also
 * makes every development ptau, of every size, share one alpha*G1 and one beta*G2, so a
 * verifier can recognise a development key from the key alone.
 */
export const DEV_PTAU_SECRET_PREFIX = 'zkinfer development powers of tau/';

/** tau = sha256("zkinfer development powers of tau/tau") mod r. */
export const DEV_PTAU_TAU = '19992383501436148331760581466594304360727717991203173186000567382448544631702';
/** alpha = sha256("zkinfer development powers of tau/alpha") mod r. */
export const DEV_PTAU_ALPHA = '8321894815837047736054496547516452682812186681722762492821435383201549996390';
/** beta = sha256("zkinfer development powers of tau/beta") mod r. */
export const DEV_PTAU_BETA = '11453054418598077803815169735612147961202535376781036722162895695439612060181';

/** alpha*G1, affine, decimal: `vk_alpha_1` (without its trailing "1") of every key made on a development ptau. */
export const DEV_PTAU_VK_ALPHA_1 = [
  '13461059322305695566961197974141703673492714272964550130335234745036319643773',
  '14434099608934361288589096161723440607512318960342740077964788208250498642098',
] as const;

/** beta*G2, affine, decimal, as snarkjs writes `vk_beta_2` (x = [c0, c1], y = [c0, c1]) without its trailing ["1", "0"]. */
export const DEV_PTAU_VK_BETA_2 = [
  [
    '17117783714038420727565455535258798992748291895410963287477998502068963780522',
    '10833183954956078421761478261372978888042072875194989583804946974400597210751',
  ],
  [
    '18599285259448181762070977359024781696632631914852447881948024865338363691317',
    '5840650258072208279023093978103990940264034599410379371688363407465872061303',
  ],
] as const;

/**
 * `vk_alpha_1` (x, y) of keys made on the first bundled ptau/dev-13.ptau (sha256
 * efeebb93...422f), generated with random contributions before the development secrets
 * were published. Setups made before the change still carry it.
 */
export const LEGACY_DEV_13_ALPHA_1 = [
  '11809432923554370971450463828514007715149766577660741731654675138618695732498',
  '13837365961638983664608636597689961147850267440706128157040542065127264681123',
] as const;

/** `vk_beta_2` of the same legacy keys, in the layout of DEV_PTAU_VK_BETA_2. */
export const LEGACY_DEV_13_BETA_2 = [
  [
    '2432570749231937601445082579699168377348669992577968261926198983846582470614',
    '3446163855832136023960312395218373303413958003900153652109186963582536017344',
  ],
  [
    '21566809387229926879180956983779481108847084020226899467797307379121060328011',
    '4362197017022648803480033529526590344845871608061550227070412394856691220951',
  ],
] as const;

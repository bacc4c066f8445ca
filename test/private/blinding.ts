/**
 * The blinding value the private-model tests share: the same private circuit, so its
 * compile and setup are made once per artifact store and reused (test/private, test/chain).
 */
export const TEST_BLINDING = 0x1234567890abcdef1234567890abcdefn;

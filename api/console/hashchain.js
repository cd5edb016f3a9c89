// The per-account hash chain (docs/DESIGN.md "Entries and the hash chain"), recomputed in the
// browser with @noble/hashes' keccak_256 (served from node_modules by the API, no CDN):
//   entry = seq | kind << 48 | program << 56 | reason << 64 | timestamp << 72 | amount << 112
//   head' = bytes24(keccak256(head ‖ account ‖ entry ‖ ref))   (24 + 32 + 32 + 32 bytes)
import { keccak_256 } from "/console/vendor/noble-hashes/sha3.js";

// Codes fixed by docs/DESIGN.md (ledger/domain/codes.py).
export const KINDS = { GRANT: 1, CONVERSION_OUT: 2, CONVERSION_IN: 3, DEDUCTION: 4, EXPIRY: 5,
  CORRECTION: 6, MERGE_OUT: 7, MERGE_IN: 8, REFUND: 9 };
export const PROGRAMS = { ECO_HOUSEHOLD: 1, ECO_ORG: 2, CAR: 3, BIKE: 4, ECO_SEASON: 5,
  CAR_SEASON: 6, SEOUL: 7 };
export const REASONS = { NONE: 0, CONVERSION: 1, TAX_PAYMENT: 2, CASH: 3, GIFT_CERTIFICATE: 4,
  APARTMENT_FEE: 5, TRANSIT_CARD: 6, ECO_PRODUCT: 7, BIKE_PASS: 8, DONATION: 9, EXPIRY: 10,
  EXPIRY_DONATION: 11, CORRECTION: 12, MERGE: 13, CARD_POINTS: 14 };
export const ZERO_HEAD = "0x" + "00".repeat(24);

function code(table, name) {
  if (typeof name === "number") return name;
  if (!(name in table)) throw new Error(`unknown code ${name}`);
  return table[name];
}

export function hexToBytes(hex, length) {
  const h = hex.startsWith("0x") ? hex.slice(2) : hex;
  if (h.length !== length * 2 || !/^[0-9a-fA-F]*$/.test(h)) {
    throw new Error(`expected ${length} bytes of hex, got ${hex}`);
  }
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = parseInt(h.slice(2 * i, 2 * i + 2), 16);
  return out;
}

export function bytesToHex(bytes) {
  return "0x" + Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

export function entryWord(e) {
  return BigInt(e.seq) | (BigInt(code(KINDS, e.kind)) << 48n)
    | (BigInt(code(PROGRAMS, e.program)) << 56n) | (BigInt(code(REASONS, e.reason)) << 64n)
    | (BigInt(e.timestamp) << 72n) | (BigInt(e.amount) << 112n);
}

function wordBytes(word) {
  return hexToBytes(word.toString(16).padStart(64, "0"), 32);
}

export function nextHead(prevHead, account, e) {
  const pre = new Uint8Array(120);
  pre.set(hexToBytes(prevHead, 24), 0);
  pre.set(hexToBytes(account, 32), 24);
  pre.set(wordBytes(entryWord(e)), 56);
  pre.set(hexToBytes(e.ref, 32), 88);
  return bytesToHex(keccak_256(pre).slice(0, 24));
}

// Replays `entries` (in order) for `account`; compares every link with the indexed head and the
// end with the contract's count and head. Returns {ok, head, count, links, firstBroken, problem}.
export function verifyTrail(account, entries, onchain) {
  let head = ZERO_HEAD;
  const links = [];
  let firstBroken = null;
  let problem = null;
  // Each link is checked from the previous entry's stated head, so only the entry that breaks is
  // flagged; with every link checked, the last recomputed head equals the contract's only if a
  // pure replay from the zero head does too.
  let prev = ZERO_HEAD;
  entries.forEach((e, i) => {
    let ok = true;
    try {
      if (e.seq !== i + 1) throw new Error(`seq ${e.seq} where ${i + 1} was expected`);
      head = nextHead(prev, account, e);
      ok = head === String(e.head).toLowerCase();
      prev = String(e.head).toLowerCase();
      if (!ok && !problem) problem = `seq ${e.seq}: recomputed head differs from the entry's head`;
    } catch (err) {
      ok = false;
      if (!problem) problem = `seq ${e.seq}: ${err.message}`;
    }
    links.push({ seq: e.seq, head, ok });
    if (!ok && firstBroken === null) firstBroken = e.seq;
  });
  if (!problem && entries.length !== onchain.count) {
    problem = `${entries.length} entries but the contract counts ${onchain.count}`;
  }
  if (!problem && head !== String(onchain.head).toLowerCase()) {
    problem = `recomputed head ${head} differs from the contract's ${onchain.head}`;
  }
  return { ok: problem === null, head, count: entries.length, links, firstBroken, problem };
}

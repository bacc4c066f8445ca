import { ZkinferError } from '../../core/errors.ts';
import { checkLimit, elementCount, MAX_PROTO_DEPTH, type ModelLimits, tooLarge } from '../limits.ts';
import { type Kind, type MessageName, SCHEMA, ELEMENT_BYTES, TENSOR_WIRE_TYPES } from './wire-schema.ts';

/**
 * A walk over an ONNX file's protobuf wire format that allocates nothing: it measures
 * what decoding would build (nodes, protobuf values, tensor elements and bytes) and
 * refuses a model over a limit before the decoder runs. protobufjs materializes every
 * value it reads (a 1-byte varint becomes a Long object of ~60 bytes), so the decoder
 * itself is the first thing a hostile file attacks.
 *
 * The field table follows onnx-proto's ModelProto decoder: fields it reads are walked,
 * fields it skips are skipped here too.
 */

/** What a scan found: enough for a caller to report sizes. */
export interface OnnxScan {
  nodes: number;
  protoFields: number;
  /** Tensor data bytes stored in the file (external data not included). */
  tensorBytes: number;
  /** Elements of every tensor stored in the file (declared by dims). */
  tensorElements: number;
}

class Unreadable extends Error {}

/**
 * protobufjs reads a known field by its declared type whatever its wire type says, so
 * a mismatch would make it read the bytes differently from this scan: refuse it.
 */
function expectWireType(kind: Kind, wt: number, type: string, tag: number): void {
  const ok =
    kind === 'int' || kind === 'i32'
      ? wt === 0
      : kind === 'f32'
        ? wt === 5
        : kind === 'ints'
          ? wt === 0 || wt === 2
          : kind === 'f32s'
            ? wt === 5 || wt === 2
            : wt === 2;
  if (!ok) throw new Unreadable(`field ${Math.floor(tag / 8)} of ${type} has wire type ${wt}`);
}

class Scanner {
  nodes = 0;
  fields = 0;
  tensorBytes = 0;
  tensorElements = 0;

  constructor(
    readonly buf: Uint8Array,
    readonly limits: ModelLimits,
  ) {}

  varint(pos: number, end: number): [value: number, next: number] {
    let v = 0;
    let mul = 1;
    for (let i = 0; i < 10; i++) {
      if (pos >= end) throw new Unreadable('truncated varint');
      const b = this.buf[pos++];
      v += (b & 0x7f) * mul;
      mul *= 128;
      if (b < 0x80) return [v, pos];
    }
    throw new Unreadable('varint longer than 10 bytes');
  }

  /**
   * A tag or a length, read as protobufjs's `uint32()` reads them. It takes 5 bytes at
   * most and then skips 5 more without looking, so a longer varint would put it out of
   * step with this scan: refused, as is a value of 2^32 or more.
   */
  uint32(pos: number, end: number): [value: number, next: number] {
    let v = 0;
    let mul = 1;
    for (let i = 0; i < 5; i++) {
      if (pos >= end) throw new Unreadable('truncated varint');
      const b = this.buf[pos++];
      if (i === 4 && b > 0x0f) throw new Unreadable('a tag or length of 2^32 or more');
      v += (b & 0x7f) * mul;
      mul *= 128;
      if (b < 0x80) return [v, pos];
    }
    throw new Unreadable('a tag or length varint longer than 5 bytes');
  }

  /**
   * The end of an int32 varint as protobufjs's `int32()` consumes it: up to 5 bytes, or
   * 10 when the fifth continues (a negative value, sign-extended), whatever they hold.
   */
  int32End(pos: number, end: number): number {
    for (let i = 0; i < 5; i++) {
      if (pos >= end) throw new Unreadable('truncated varint');
      if (this.buf[pos++] < 0x80) return pos;
    }
    if (pos + 5 > end) throw new Unreadable('truncated varint');
    return pos + 5;
  }

  /** A varint as a signed 64-bit integer (dims are int64; a negative one is 10 bytes). */
  int64(pos: number, end: number): [value: number, next: number] {
    let v = 0n;
    let shift = 0n;
    for (let i = 0; i < 10; i++) {
      if (pos >= end) throw new Unreadable('truncated varint');
      const b = this.buf[pos++];
      v |= BigInt(b & 0x7f) << shift;
      shift += 7n;
      if (b < 0x80) return [Number(BigInt.asIntN(64, v)), pos];
    }
    throw new Unreadable('varint longer than 10 bytes');
  }

  /** Bounds of a length-delimited field's payload starting at `pos`. */
  lengthDelimited(pos: number, end: number): [start: number, stop: number] {
    const [len, start] = this.uint32(pos, end);
    if (start + len > end) throw new Unreadable('a length-delimited field runs past its message');
    return [start, start + len];
  }

  /** Skips one field of `wireType` (groups iteratively, to a bounded depth); returns the next position. */
  skip(wireType: number, pos: number, end: number): number {
    let depth = 0;
    let wt = wireType;
    for (;;) {
      switch (wt) {
        case 0:
          pos = this.varint(pos, end)[1];
          break;
        case 1:
          pos += 8;
          break;
        case 2:
          pos = this.lengthDelimited(pos, end)[1];
          break;
        case 3:
          if (++depth > MAX_PROTO_DEPTH) throw this.tooDeep();
          break;
        case 4:
          if (depth === 0) throw new Unreadable('a group ends that never started');
          depth--;
          break;
        case 5:
          pos += 4;
          break;
        default:
          throw new Unreadable(`invalid wire type ${wt}`);
      }
      if (pos > end) throw new Unreadable('truncated field');
      if (depth <= 0) return pos;
      const [tag, next] = this.uint32(pos, end);
      pos = next;
      wt = tag & 7;
    }
  }

  tooDeep(): ZkinferError {
    return new ZkinferError('MODEL_TOO_LARGE', `the model nests messages (subgraphs, types or groups) more than ${MAX_PROTO_DEPTH} levels deep`, 'model');
  }

  count(n: number): void {
    this.fields += n;
    if (this.fields > this.limits.maxProtoFields)
      throw tooLarge(this.limits, 'maxProtoFields', this.fields, 'the number of protobuf values (names, attributes, shapes) read so far', 'model');
  }

  /** Elements of a repeated scalar field: packed (wire type 2) or one per occurrence. */
  repeated(wireType: number, pos: number, end: number, width: 0 | 4 | 8, int32 = false): [elements: number, bytes: number, next: number] {
    if (wireType === 2) {
      const [start, stop] = this.lengthDelimited(pos, end);
      const bytes = stop - start;
      // protobufjs reads whole elements until it reaches the end or passes it: a packed run
      // it would overrun puts it out of step with this scan.
      if (width > 0) {
        if (bytes % width !== 0) throw new Unreadable(`a packed field of ${bytes} bytes is not a whole number of ${width}-byte values`);
        return [bytes / width, bytes, stop];
      }
      if (int32) {
        let n = 0;
        for (let q = start; q < stop; n++) q = this.int32End(q, stop);
        return [n, bytes, stop];
      }
      // One varint ends at each byte below 0x80: count them without decoding.
      let n = 0;
      for (let i = start; i < stop; i++) if (this.buf[i] < 0x80) n++;
      return [n, bytes, stop];
    }
    const next = int32 ? this.int32End(pos, end) : this.skip(wireType, pos, end);
    return [1, next - pos, next];
  }

  message(type: MessageName, start: number, end: number, depth: number, where: string): void {
    if (depth > MAX_PROTO_DEPTH) throw this.tooDeep();
    if (type === 'Tensor') return this.tensor(start, end, depth, where);
    if (type === 'Node') {
      this.nodes++;
      where = this.nodeName(start, end) ?? `node ${this.nodes}`;
      checkLimit(this.limits, 'maxNodes', this.nodes, 'the node count (functions and subgraphs included)', where);
    }
    if (type === 'Graph') return this.graph(start, end, depth, where);
    const fields = SCHEMA[type];
    let pos = start;
    while (pos < end) {
      const [tag, p] = this.uint32(pos, end);
      const kind = fields[Math.floor(tag / 8)];
      const wt = tag & 7;
      if (kind === undefined) {
        pos = this.skip(wt, p, end);
        continue;
      }
      expectWireType(kind, wt, type, tag);
      if (kind === 'ints' || kind === 'f32s') {
        const [n, , next] = this.repeated(wt, p, end, kind === 'f32s' ? 4 : 0);
        this.count(n);
        pos = next;
        continue;
      }
      this.count(1);
      if (typeof kind === 'object') {
        const [s, e] = this.lengthDelimited(p, end);
        this.message(kind.msg, s, e, depth + 1, where);
        pos = e;
      } else pos = kind === 'i32' ? this.int32End(p, end) : this.skip(wt, p, end);
    }
    if (pos !== end) throw new Unreadable(`${type} overruns its length`);
  }

  /** A graph: its node count is checked once, over every node (the error then says how many). */
  graph(start: number, end: number, depth: number, where: string): void {
    let pos = start;
    while (pos < end) {
      const [tag, p] = this.uint32(pos, end);
      const field = Math.floor(tag / 8);
      const kind = SCHEMA.Graph[field];
      const wt = tag & 7;
      if (kind !== undefined) expectWireType(kind, wt, 'Graph', tag);
      if (kind === undefined || typeof kind !== 'object') {
        if (kind !== undefined) this.count(1);
        pos = this.skip(wt, p, end);
        continue;
      }
      const [s, e] = this.lengthDelimited(p, end);
      this.count(1);
      if (kind.msg === 'Node' && this.nodes >= this.limits.maxNodes) {
        // Counted to the end of the graph without reading the nodes, so the error says how many.
        const total = this.nodes + this.countNodes(pos, end);
        throw tooLarge(
          this.limits,
          'maxNodes',
          total,
          where === 'model' ? 'the node count of the graph' : `the node count of a subgraph of ${where}`,
          where === 'model' ? undefined : where,
        );
      }
      this.message(kind.msg, s, e, depth + 1, where);
      pos = e;
    }
  }

  /** Node entries of a graph from `pos` on, counted without reading them. */
  countNodes(pos: number, end: number): number {
    let n = 0;
    while (pos < end) {
      const [tag, p] = this.uint32(pos, end);
      if (tag === (1 << 3) + 2) n++;
      pos = this.skip(tag & 7, p, end);
    }
    return n;
  }

  /** A node's name (field 3), for messages; null when it has none. */
  nodeName(start: number, end: number): string | null {
    let pos = start;
    while (pos < end) {
      const [tag, p] = this.uint32(pos, end);
      if (tag === (3 << 3) + 2) {
        const [s, e] = this.lengthDelimited(p, end);
        return new TextDecoder().decode(this.buf.subarray(s, Math.min(e, s + 200))) || null;
      }
      pos = this.skip(tag & 7, p, end);
    }
    return null;
  }

  /**
   * A TensorProto: dims, data type and every data field are measured first (protobuf
   * fields come in any order), then checked: declared and stored elements against
   * maxTensorElements, stored bytes and elements against the model-wide totals.
   */
  tensor(start: number, end: number, depth: number, where: string): void {
    const dims: number[] = [];
    let dataType = 0;
    let name = '';
    let storedElements = 0;
    let storedBytes = 0;
    let rawBytes = -1;
    let pos = start;
    while (pos < end) {
      const [tag, p] = this.uint32(pos, end);
      const field = Math.floor(tag / 8);
      const wt = tag & 7;
      const want = TENSOR_WIRE_TYPES[field];
      if (want !== undefined && !want.includes(wt)) throw new Unreadable(`tensor field ${field} has wire type ${wt}`);
      switch (field) {
        case 1: {
          // dims: repeated int64, decoded (there are few of them; each is a protobuf value).
          if (wt === 2) {
            const [s, e] = this.lengthDelimited(p, end);
            for (let q = s; q < e;) {
              const [d, nq] = this.int64(q, e);
              dims.push(d);
              this.count(1);
              q = nq;
            }
            pos = e;
          } else {
            const [d, nq] = this.int64(p, end);
            dims.push(d);
            this.count(1);
            pos = nq;
          }
          break;
        }
        case 2: {
          const nq = this.int32End(p, end);
          dataType = nq - p <= 5 ? this.varint(p, nq)[0] : -1;
          this.count(1);
          pos = nq;
          break;
        }
        case 4:
        case 5:
        case 7:
        case 10:
        case 11: {
          const width = field === 4 ? 4 : field === 10 ? 8 : 0;
          const [n, bytes, nq] = this.repeated(wt, p, end, width, field === 5);
          storedElements += n;
          storedBytes += bytes;
          pos = nq;
          break;
        }
        case 6:
        case 9: {
          const [s, e] = this.lengthDelimited(p, end);
          storedBytes += e - s;
          if (field === 6) storedElements++;
          else rawBytes = (rawBytes < 0 ? 0 : rawBytes) + e - s;
          this.count(1);
          pos = e;
          break;
        }
        case 8: {
          const [s, e] = this.lengthDelimited(p, end);
          name = new TextDecoder().decode(this.buf.subarray(s, Math.min(e, s + 200)));
          this.count(1);
          pos = e;
          break;
        }
        case 3:
        case 13: {
          const [s, e] = this.lengthDelimited(p, end);
          this.count(1);
          this.message(field === 3 ? 'Segment' : 'StringStringEntry', s, e, depth + 1, where);
          pos = e;
          break;
        }
        case 12:
          this.count(1);
          pos = this.skip(wt, p, end);
          break;
        case 14:
          this.count(1);
          pos = this.int32End(p, end);
          break;
        default:
          pos = this.skip(wt, p, end);
      }
    }
    const label = name ? `tensor ${name}` : `a tensor of ${where}`;
    const at = name || where;
    const declared = elementCount(dims, at);
    if (rawBytes >= 0) storedElements += Math.floor(rawBytes / (ELEMENT_BYTES[dataType] || 1));
    const { limits } = this;
    checkLimit(
      limits,
      'maxTensorElements',
      declared,
      `the element count its shape [${dims.slice(0, 8).join(',')}${dims.length > 8 ? ',...' : ''}] declares for ${label}`,
      at,
    );
    checkLimit(limits, 'maxTensorElements', storedElements, `the element count stored in ${label}`, at);
    this.tensorBytes += storedBytes;
    this.tensorElements += declared;
    checkLimit(limits, 'maxInitializerBytes', this.tensorBytes, `the tensor data stored in the model, up to and including ${label}, in bytes`, at);
    checkLimit(limits, 'maxParameters', this.tensorElements, `the element count of the tensors stored in the model, up to and including ${label}`, at);
  }
}

/**
 * Measures an ONNX file's bytes against `limits` without decoding them. Throws
 * MODEL_TOO_LARGE naming the first limit exceeded, or MODEL_UNREADABLE when the bytes
 * are not a well-formed protobuf message.
 */
export function scanOnnx(bytes: Uint8Array, limits: ModelLimits, fileName = 'model'): OnnxScan {
  const s = new Scanner(bytes, limits);
  try {
    s.message('Model', 0, bytes.length, 0, 'model');
  } catch (e) {
    if (e instanceof Unreadable) {
      throw new ZkinferError('MODEL_UNREADABLE', `${fileName} is not a readable ONNX model (truncated or not protobuf): ${e.message}`, 'model', { cause: e });
    }
    throw e;
  }
  return { nodes: s.nodes, protoFields: s.fields, tensorBytes: s.tensorBytes, tensorElements: s.tensorElements };
}

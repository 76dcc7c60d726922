// The bytes under every Arcane Realms message: bincode 2's standard configuration
// (little endian, variable-length integers), as PROTOCOL.md "Encoding rules" documents.
// Decoding never throws anything but a `CodecError`, and never reads past the frame.
//
// Values take the shape serde gives the Rust types in JSON, so the conformance vectors
// (`shared-protocol/vectors/`) compare directly: a struct is an object, a unit enum
// variant its name as a string, any other variant `{ Name: value }`, an `Option` a value
// or `null`, a tuple or fixed array an array. A `u64` is a number when it is at most
// 2^53 − 1 and a `BigInt` above.

/** A frame could not be decoded (or a value could not be encoded). */
export class CodecError extends Error {
  /** @param {string} message */
  constructor(message) {
    super(message);
    this.name = 'CodecError';
  }
}

const U16_MARK = 251;
const U32_MARK = 252;
const U64_MARK = 253;
const utf8 = new TextDecoder('utf-8', { fatal: true });
const utf8Encoder = new TextEncoder();

/** Reads values from one frame. */
export class Reader {
  /** @param {Uint8Array} bytes */
  constructor(bytes) {
    this.bytes = bytes;
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.pos = 0;
  }

  /** Bytes not read yet. */
  remaining() {
    return this.bytes.length - this.pos;
  }

  /** @param {number} n */
  need(n) {
    if (this.pos + n > this.bytes.length) {
      throw new CodecError(`frame ends early: ${n} more byte(s) needed at offset ${this.pos}`);
    }
  }

  u8() {
    this.need(1);
    return this.bytes[this.pos++];
  }

  i8() {
    const v = this.u8();
    return v > 127 ? v - 256 : v;
  }

  bool() {
    const v = this.u8();
    if (v > 1) throw new CodecError(`invalid bool byte ${v}`);
    return v === 1;
  }

  /**
   * An unsigned varint no wider than `bits` (16, 32 or 64).
   * @param {16|32|64} bits
   * @returns {number|bigint}
   */
  varint(bits) {
    const first = this.u8();
    if (first < U16_MARK) return first;
    if (first === U16_MARK) {
      this.need(2);
      const v = this.view.getUint16(this.pos, true);
      this.pos += 2;
      return v;
    }
    if (first === U32_MARK && bits >= 32) {
      this.need(4);
      const v = this.view.getUint32(this.pos, true);
      this.pos += 4;
      return v;
    }
    if (first === U64_MARK && bits >= 64) {
      this.need(8);
      const v = this.view.getBigUint64(this.pos, true);
      this.pos += 8;
      return v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
    }
    throw new CodecError(`invalid varint marker ${first} for a u${bits}`);
  }

  u16() {
    return /** @type {number} */ (this.varint(16));
  }

  u32() {
    return /** @type {number} */ (this.varint(32));
  }

  /** @returns {number|bigint} */
  u64() {
    return this.varint(64);
  }

  i16() {
    return unzigzag(this.u16());
  }

  i32() {
    return unzigzag(this.u32());
  }

  /** A length prefix (bincode writes it as a u64), checked against what is left. */
  len() {
    const n = this.u64();
    if (typeof n !== 'number' || n > this.remaining()) {
      throw new CodecError(`length ${n} exceeds the ${this.remaining()} byte(s) left`);
    }
    return n;
  }

  str() {
    const n = this.len();
    const slice = this.bytes.subarray(this.pos, this.pos + n);
    this.pos += n;
    try {
      return utf8.decode(slice);
    } catch {
      throw new CodecError('a text is not valid UTF-8');
    }
  }

  /** A variant index (bincode writes it as a u32). */
  variant() {
    return this.u32();
  }
}

/** @param {number} v */
function unzigzag(v) {
  // `>>> 1` and `& 1` keep it unsigned for values above 2^31.
  return v % 2 === 0 ? v / 2 : -(v + 1) / 2;
}

/** @param {number} v */
function zigzag(v) {
  return v >= 0 ? v * 2 : -v * 2 - 1;
}

/** Appends values to a growing buffer. */
export class Writer {
  constructor(capacity = 64) {
    this.bytes = new Uint8Array(capacity);
    this.view = new DataView(this.bytes.buffer);
    this.pos = 0;
  }

  /** @param {number} n */
  reserve(n) {
    if (this.pos + n <= this.bytes.length) return;
    let size = this.bytes.length * 2;
    while (size < this.pos + n) size *= 2;
    const grown = new Uint8Array(size);
    grown.set(this.bytes.subarray(0, this.pos));
    this.bytes = grown;
    this.view = new DataView(grown.buffer);
  }

  /** The bytes written so far (a view, not a copy). */
  finish() {
    return this.bytes.subarray(0, this.pos);
  }

  /** @param {number} v */
  u8(v) {
    checkInt(v, 0, 255, 'u8');
    this.reserve(1);
    this.bytes[this.pos++] = v;
  }

  /** @param {number} v */
  i8(v) {
    checkInt(v, -128, 127, 'i8');
    this.u8(v & 0xff);
  }

  /** @param {boolean} v */
  bool(v) {
    if (typeof v !== 'boolean') throw new CodecError(`expected a bool, got ${v}`);
    this.u8(v ? 1 : 0);
  }

  /**
   * @param {number|bigint} v
   * @param {16|32|64} bits
   */
  varint(v, bits) {
    if (typeof v === 'bigint') {
      if (v < 0n || v >= 1n << BigInt(bits)) throw new CodecError(`${v} does not fit a u${bits}`);
      if (v <= BigInt(Number.MAX_SAFE_INTEGER)) return this.varint(Number(v), bits);
      this.reserve(9);
      this.bytes[this.pos++] = U64_MARK;
      this.view.setBigUint64(this.pos, v, true);
      this.pos += 8;
      return;
    }
    checkInt(v, 0, bits === 64 ? Number.MAX_SAFE_INTEGER : 2 ** bits - 1, `u${bits}`);
    this.reserve(9);
    if (v < U16_MARK) {
      this.bytes[this.pos++] = v;
    } else if (v <= 0xffff) {
      this.bytes[this.pos++] = U16_MARK;
      this.view.setUint16(this.pos, v, true);
      this.pos += 2;
    } else if (v <= 0xffffffff) {
      this.bytes[this.pos++] = U32_MARK;
      this.view.setUint32(this.pos, v, true);
      this.pos += 4;
    } else {
      this.bytes[this.pos++] = U64_MARK;
      this.view.setBigUint64(this.pos, BigInt(v), true);
      this.pos += 8;
    }
  }

  /** @param {number} v */
  u16(v) {
    this.varint(v, 16);
  }

  /** @param {number} v */
  u32(v) {
    this.varint(v, 32);
  }

  /** @param {number|bigint} v */
  u64(v) {
    this.varint(v, 64);
  }

  /** @param {number} v */
  i16(v) {
    checkInt(v, -32768, 32767, 'i16');
    this.u16(zigzag(v));
  }

  /** @param {number} v */
  i32(v) {
    checkInt(v, -2147483648, 2147483647, 'i32');
    this.u32(zigzag(v));
  }

  /** @param {string} v */
  str(v) {
    if (typeof v !== 'string') throw new CodecError(`expected a string, got ${v}`);
    const bytes = utf8Encoder.encode(v);
    this.u64(bytes.length);
    this.reserve(bytes.length);
    this.bytes.set(bytes, this.pos);
    this.pos += bytes.length;
  }
}

/**
 * @param {unknown} v
 * @param {number} min
 * @param {number} max
 * @param {string} what
 */
function checkInt(v, min, max, what) {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw new CodecError(`${v} is not a valid ${what}`);
  }
}

/**
 * A type's codec: how to read one value and how to write one.
 * @template T
 * @typedef {{ dec: (r: Reader) => T, enc: (w: Writer, v: T) => void }} Type
 */

/** @type {Type<number>} */
export const u8 = { dec: (r) => r.u8(), enc: (w, v) => w.u8(v) };
/** @type {Type<number>} */
export const i8 = { dec: (r) => r.i8(), enc: (w, v) => w.i8(v) };
/** @type {Type<boolean>} */
export const bool = { dec: (r) => r.bool(), enc: (w, v) => w.bool(v) };
/** @type {Type<number>} */
export const u16 = { dec: (r) => r.u16(), enc: (w, v) => w.u16(v) };
/** @type {Type<number>} */
export const u32 = { dec: (r) => r.u32(), enc: (w, v) => w.u32(v) };
/** @type {Type<number|bigint>} */
export const u64 = { dec: (r) => r.u64(), enc: (w, v) => w.u64(v) };
/** @type {Type<number>} */
export const i16 = { dec: (r) => r.i16(), enc: (w, v) => w.i16(v) };
/** @type {Type<number>} */
export const i32 = { dec: (r) => r.i32(), enc: (w, v) => w.i32(v) };
/** @type {Type<string>} */
export const str = { dec: (r) => r.str(), enc: (w, v) => w.str(v) };

/**
 * A `Vec<T>`: a varint count, then the elements.
 * @template T
 * @param {Type<T>} t
 * @returns {Type<T[]>}
 */
export function vec(t) {
  return {
    dec(r) {
      const n = r.len();
      const out = new Array(n);
      for (let i = 0; i < n; i++) out[i] = t.dec(r);
      return out;
    },
    enc(w, v) {
      if (!Array.isArray(v)) throw new CodecError(`expected an array, got ${v}`);
      w.u64(v.length);
      for (const x of v) t.enc(w, x);
    },
  };
}

/**
 * An `Option<T>`: byte 0, or byte 1 then the value.
 * @template T
 * @param {Type<T>} t
 * @returns {Type<T|null>}
 */
export function opt(t) {
  return {
    dec(r) {
      const tag = r.u8();
      if (tag === 0) return null;
      if (tag === 1) return t.dec(r);
      throw new CodecError(`invalid option tag ${tag}`);
    },
    enc(w, v) {
      if (v === null || v === undefined) {
        w.u8(0);
      } else {
        w.u8(1);
        t.enc(w, v);
      }
    },
  };
}

/**
 * A tuple or a fixed-size array: the elements in order, no count.
 * @param {Type<any>[]} types
 * @returns {Type<any[]>}
 */
export function tuple(...types) {
  return {
    dec: (r) => types.map((t) => t.dec(r)),
    enc(w, v) {
      if (!Array.isArray(v) || v.length !== types.length) {
        throw new CodecError(`expected ${types.length} elements, got ${v}`);
      }
      types.forEach((t, i) => t.enc(w, v[i]));
    },
  };
}

/**
 * A struct: its fields in order.
 * @param {[string, Type<any>][]} fields
 * @returns {Type<Record<string, any>>}
 */
export function struct(fields) {
  return {
    dec(r) {
      /** @type {Record<string, any>} */
      const o = {};
      for (const [name, t] of fields) o[name] = t.dec(r);
      return o;
    },
    enc(w, v) {
      if (v === null || typeof v !== 'object') throw new CodecError(`expected an object, got ${v}`);
      for (const [name, t] of fields) {
        if (!(name in v)) throw new CodecError(`missing field ${name}`);
        t.enc(w, v[name]);
      }
    },
  };
}

/**
 * An enum: a varint variant index, then the variant's value. A variant is `[name]`
 * (unit: the value is the name as a string) or `[name, type]` (the value is
 * `{ [name]: value }`; a struct variant's type is a `struct`).
 * @param {([string] | [string, Type<any>])[]} variants
 * @returns {Type<any> & { names: string[] }}
 */
export function enumOf(variants) {
  /** @type {Map<string, number>} */
  const index = new Map(variants.map((v, i) => [v[0], i]));
  return {
    names: variants.map((v) => v[0]),
    dec(r) {
      const i = r.variant();
      const v = variants[i];
      if (!v) throw new CodecError(`unknown variant ${i} (of ${variants.length})`);
      if (v.length === 1) return v[0];
      return { [v[0]]: v[1].dec(r) };
    },
    enc(w, value) {
      const name = typeof value === 'string' ? value : value && Object.keys(value)[0];
      const i = index.get(name);
      if (i === undefined) throw new CodecError(`unknown variant ${JSON.stringify(value)}`);
      const v = variants[i];
      w.u32(i);
      if (v.length === 2) {
        if (typeof value === 'string') throw new CodecError(`variant ${name} carries a value`);
        v[1].enc(w, value[name]);
      }
    },
  };
}

/**
 * Decodes exactly one value of `type` from `bytes`: trailing bytes are an error.
 * @template T
 * @param {Type<T>} type
 * @param {Uint8Array} bytes
 * @param {number} limit largest frame accepted
 * @returns {T}
 */
export function decodeExact(type, bytes, limit) {
  if (bytes.length > limit) {
    throw new CodecError(`frame of ${bytes.length} bytes exceeds the ${limit} byte limit`);
  }
  const r = new Reader(bytes);
  let value;
  try {
    value = type.dec(r);
  } catch (e) {
    if (e instanceof CodecError) throw e;
    throw new CodecError(`malformed frame: ${e}`);
  }
  if (r.remaining() !== 0) {
    throw new CodecError(`frame has ${r.remaining()} trailing bytes after the message`);
  }
  return value;
}

/**
 * Encodes one value of `type`.
 * @template T
 * @param {Type<T>} type
 * @param {T} value
 * @returns {Uint8Array}
 */
export function encode(type, value) {
  const w = new Writer();
  type.enc(w, value);
  return w.finish();
}

// Wire format: a read-only view of one `struct btf_type` and the
// kind-specific records that follow it, as laid out in the kernel's
// Documentation/bpf/btf.rst ("2.2 Type encoding") and <linux/btf.h>.
//
// This reimplements the small inline helpers of libbpf's btf.h (btf_kind,
// btf_vlen, btf_kflag, btf_members, btf_member_bit_offset,
// btf_member_bitfield_size, btf_array, btf_enum, btf_params, …) so the model
// code never touches C layouts directly.

/// One type record in memory owned by a libbpf `struct btf`.
struct RawBTFType {
    let base: UnsafeRawPointer

    /// `btf_type.name_off`
    var nameOffset: UInt32 { u32(0) }
    /// `btf_type.info`: vlen (bits 0–15), kind (bits 24–28), kflag (bit 31).
    var info: UInt32 { u32(4) }
    var kind: BTFKind { BTFKind(rawValue: (info >> 24) & 0x1f) }
    var vlen: Int { Int(info & 0xffff) }
    var kflag: Bool { info >> 31 == 1 }
    /// `btf_type.size` (INT, ENUM, STRUCT, UNION, DATASEC, FLOAT).
    var size: UInt32 { u32(8) }
    /// `btf_type.type` (PTR, TYPEDEF, modifiers, FUNC, FUNC_PROTO return, VAR).
    var type: UInt32 { u32(8) }

    /// The u32 after a `BTF_KIND_INT`: encoding (bits 24–27), offset (16–23), bits (0–7).
    var intEncoding: BTFIntEncoding { BTFIntEncoding(rawValue: UInt8((u32(12) >> 24) & 0x0f)) }
    var intOffset: Int { Int((u32(12) >> 16) & 0xff) }
    var intBits: Int { Int(u32(12) & 0xff) }

    /// `struct btf_array` after a `BTF_KIND_ARRAY`.
    var array: (element: UInt32, index: UInt32, count: UInt32) { (u32(12), u32(16), u32(20)) }

    /// `struct btf_member` #i of a STRUCT/UNION, with the kflag decoding of
    /// btf_member_bit_offset / btf_member_bitfield_size: with kflag set the
    /// low 24 bits are the bit offset and the high 8 the bitfield size.
    func member(_ i: Int) -> (nameOffset: UInt32, type: UInt32, bitOffset: Int, bitfieldSize: Int) {
        let o = 12 + i * 12, raw = u32(o + 8)
        let (off, bits) = kflag ? (raw & 0x00ff_ffff, raw >> 24) : (raw, 0)
        return (u32(o), u32(o + 4), Int(off), Int(bits))
    }

    /// `struct btf_enum` #i (`val` is signed when the enum's kflag is set).
    func enumValue(_ i: Int) -> (nameOffset: UInt32, value: Int64) {
        let o = 12 + i * 8, v = u32(o + 4)
        return (u32(o), kflag ? Int64(Int32(bitPattern: v)) : Int64(v))
    }

    /// `struct btf_enum64` #i.
    func enum64Value(_ i: Int) -> (nameOffset: UInt32, value: UInt64) {
        let o = 12 + i * 12
        return (u32(o), UInt64(u32(o + 4)) | UInt64(u32(o + 8)) << 32)
    }

    /// `struct btf_param` #i of a FUNC_PROTO.
    func parameter(_ i: Int) -> (nameOffset: UInt32, type: UInt32) {
        let o = 12 + i * 8
        return (u32(o), u32(o + 4))
    }

    private func u32(_ offset: Int) -> UInt32 {
        // BTF data is 4-byte aligned and in host byte order once libbpf has parsed it.
        base.load(fromByteOffset: offset, as: UInt32.self)
    }
}

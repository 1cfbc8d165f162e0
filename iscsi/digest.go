package iscsi

import (
	"encoding/binary"
	"hash/crc32"
)

// CRC32C digests (RFC 7143 section 13.1, HeaderDigest and DataDigest).
//
// The digest is CRC32C, generator polynomial 0x11EDC6F41 (Castagnoli),
// register initialised to all ones and result complemented: exactly what
// hash/crc32 computes with its Castagnoli table, which uses the SSE 4.2 /
// ARMv8 CRC32C instructions where the CPU has them.
//
// Byte order on the wire: the four digest bytes are the CRC32C value in
// LITTLE-ENDIAN order, unlike every other multi-byte iSCSI field. Evidence:
//
//   - RFC 7143 appendix A.4 (RFC 3720 appendix B.4) prints the CRC of 32
//     zero bytes as the byte sequence "aa 36 91 8a", whose little-endian
//     reading is the CRC32C value 0x8a9136aa; likewise "43 ab a8 62" for
//     32 bytes of 0xff (0x62a8ab43), "4e 79 dd 46" for 00..1f (0x46dd794e),
//     "5c db 3f 11" for 1f..00 (0x113fdb5c) and "56 3a 96 d9" for the SCSI
//     READ (10) command PDU (0xd9963a56). The RFC's bit mapping (bytes in
//     order, bits least significant first, the reflected remainder mapped
//     back onto bytes) is what makes the value come out little-endian.
//   - Linux's iscsi_tcp (drivers/scsi/libiscsi_tcp.c) stores the header
//     digest with put_unaligned_le32(~crc32c(~0, hdr, len), digest), and
//     its earlier crypto-API path produced the same bytes (the kernel's
//     crc32c shash final step is put_unaligned_le32(~crc, out)).
//
// digest_test.go checks every RFC example byte for byte.

// castagnoli is the CRC32C table. It is never written after
// initialisation.
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// crc32cUpdate continues a CRC32C over b; start with 0.
func crc32cUpdate(crc uint32, b []byte) uint32 { return crc32.Update(crc, castagnoli, b) }

// crc32cHeader returns the header digest of a PDU: the CRC32C of the BHS
// followed by the AHS.
func crc32cHeader(bhs *BHS, ahs []byte) uint32 {
	return crc32cUpdate(crc32cUpdate(0, bhs[:]), ahs)
}

// crc32cData returns the data digest of a PDU: the CRC32C of the data
// segment followed by its padding bytes. RFC 7143 section 13.1: "Padding
// bytes, when present in a segment covered by a CRC, SHOULD be set to 0 and
// are included in the CRC."
func crc32cData(data, pad []byte) uint32 {
	return crc32cUpdate(crc32cUpdate(0, data), pad)
}

// appendDigest appends crc to b in wire order (little-endian, see above).
func appendDigest(b []byte, crc uint32) []byte { return binary.LittleEndian.AppendUint32(b, crc) }

// digestAt reads a digest in wire order from b[0:4].
func digestAt(b []byte) uint32 { return binary.LittleEndian.Uint32(b) }

// Package gptlayout is the partition layout lunar's two formatters share
// (cluster.FormatDisk over lunar's initiator, the open-iscsi engine's
// Format over a kernel block device): a GPT with one partition from
// 1 MiB to the last whole MiB before the final one, which keeps both GPT
// areas clear.
package gptlayout

import "github.com/diskfs/go-diskfs/partition/gpt"

const (
	// Align is the alignment of the partition's start and end: 1 MiB, as
	// partitioning tools align today.
	Align = 1 << 20
	// MinDiskSize is the smallest disk formatted: 8 MiB, which leaves a
	// 6 MiB partition between the 1 MiB GPT areas at each end.
	MinDiskSize = 8 << 20
	// MaxPartitionName is the length of a GPT partition name in UTF-16
	// code units.
	MaxPartitionName = 36
)

// Partition returns the partition's first byte and its length on a disk
// of size bytes.
func Partition(size int64) (start, length int64) {
	end := (size/Align - 1) * Align // exclusive
	return Align, end - Align
}

// Table returns the GPT of a disk of size bytes with blocks of bs bytes:
// a protective MBR and partition 1, of type typ, named name.
func Table(size, bs int64, name string, typ gpt.Type) *gpt.Table {
	start, length := Partition(size)
	return &gpt.Table{
		LogicalSectorSize:  int(bs),
		PhysicalSectorSize: int(bs),
		ProtectiveMBR:      true,
		Partitions: []*gpt.Partition{{
			Index: 1,
			Start: uint64(start / bs),
			End:   uint64((start+length)/bs) - 1,
			Size:  uint64(length),
			Type:  typ,
			Name:  name,
		}},
	}
}

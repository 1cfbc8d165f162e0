package gptlayout

import (
	"testing"

	"github.com/diskfs/go-diskfs/partition/gpt"
)

func TestLayout(t *testing.T) {
	for _, tt := range []struct {
		size, bs          int64
		start, length     int64
		firstLBA, lastLBA uint64
	}{
		{16 << 20, 512, 1 << 20, 14 << 20, 2048, 30719},
		{16<<20 + 4096, 4096, 1 << 20, 14 << 20, 256, 3839},
		{MinDiskSize, 512, 1 << 20, 6 << 20, 2048, 14335},
	} {
		start, length := Partition(tt.size)
		if start != tt.start || length != tt.length {
			t.Errorf("Partition(%d) = %d, %d; want %d, %d", tt.size, start, length, tt.start, tt.length)
		}
		tab := Table(tt.size, tt.bs, "data", gpt.LinuxFilesystem)
		p := tab.Partitions[0]
		if len(tab.Partitions) != 1 || p.Start != tt.firstLBA || p.End != tt.lastLBA || p.Size != uint64(tt.length) ||
			p.Name != "data" || p.Type != gpt.LinuxFilesystem || !tab.ProtectiveMBR || tab.LogicalSectorSize != int(tt.bs) {
			t.Errorf("Table(%d, %d) = %+v, partition %+v", tt.size, tt.bs, tab, p)
		}
	}
}

"""Minimal SoundFont (sf2/sf3) preset lister: reads the PHDR chunk (RIFF) without loading samples."""
import struct


def list_presets(path):
    """Return a set of (bank, program) pairs and a dict (bank, program) -> name."""
    names = {}
    with open(path, 'rb') as f:
        riff, size, form = struct.unpack('<4sI4s', f.read(12))
        if riff != b'RIFF' or form not in (b'sfbk',):
            raise ValueError('%s: not a SoundFont' % path)
        while True:
            hdr = f.read(8)
            if len(hdr) < 8:
                break
            cid, csize = struct.unpack('<4sI', hdr)
            if cid == b'LIST':
                ltype = f.read(4)
                if ltype != b'pdta':
                    f.seek(csize - 4, 1)
                    continue
                end = f.tell() + csize - 4
                while f.tell() < end:
                    sid, ssize = struct.unpack('<4sI', f.read(8))
                    if sid == b'phdr':
                        data = f.read(ssize)
                        for i in range(ssize // 38 - 1):  # last record is the terminal EOP
                            rec = data[i * 38:(i + 1) * 38]
                            name = rec[:20].split(b'\0')[0].decode('latin-1').strip()
                            prog, bank = struct.unpack('<HH', rec[20:24])
                            names[(bank, prog)] = name
                        return names
                    f.seek(ssize + (ssize & 1), 1)
            else:
                f.seek(csize + (csize & 1), 1)
    return names


if __name__ == '__main__':
    import sys
    for p in sys.argv[1:]:
        n = list_presets(p)
        b0 = sorted(k[1] for k in n if k[0] == 0)
        print(p, 'presets:', len(n), 'bank0 programs:', len(b0), 'missing bank0:', sorted(set(range(128)) - set(b0)))

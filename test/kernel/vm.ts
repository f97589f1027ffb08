import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { fileURLToPath } from 'node:url';

/**
 * A real Linux USB gadget on a machine without a USB device controller: a stock Debian kernel under
 * qemu-system-x86_64 (software emulation), dummy_hcd wiring a virtual device controller to a
 * virtual host controller of the same kernel, the host's root filesystem shared read-only over 9p
 * so the guest runs this very project with the host's Node. See shared/reference/kernel-gadget-vm.md.
 */

export const PROJECT_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** Modules the guest loads; dependencies are resolved from the kernel's own modules.dep. */
const MODULES = [
  'virtio_pci', '9pnet_virtio', '9p', 'configfs', 'libcomposite', 'dummy_hcd', 'usb_f_mass_storage',
  'usb_storage', 'sd_mod', 'sr_mod', 'vfat', 'exfat', 'isofs', 'nls_cp437', 'nls_ascii', 'nls_utf8',
  'crct10dif_generic', 'loop', 'virtio_blk', 'crc32c_generic', 'ext4',
];
/** Tools the recipe needs on the host, with their Debian packages (for the error message). */
export const VM_TOOLS: Record<string, string> = {
  'qemu-system-x86_64': 'qemu-system-x86',
  busybox: 'busybox-static',
  depmod: 'kmod',
  'dpkg-deb': 'dpkg',
  'mkfs.ext4': 'e2fsprogs',
  'apt-get': 'apt',
};

export interface Kernel {
  version: string;
  vmlinuz: string;
  root: string;
}

export function cacheDir(): string {
  if (process.env.PIDRIVE_KERNEL_CACHE) return process.env.PIDRIVE_KERNEL_CACHE;
  const base = process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache');
  return path.join(base, 'pidrive-kernel');
}

/** The package name of Debian's current default amd64 kernel, e.g. linux-image-6.1.0-56-amd64. */
function currentKernelPackage(): string {
  if (process.env.PIDRIVE_KERNEL_PACKAGE) return process.env.PIDRIVE_KERNEL_PACKAGE;
  const out = execFileSync('apt-cache', ['depends', 'linux-image-amd64'], { encoding: 'utf8' });
  const match = /Depends:\s*(linux-image-[0-9][^\s]*-amd64)/.exec(out);
  if (!match) throw new Error(`cannot find the kernel package linux-image-amd64 depends on:\n${out}`);
  return match[1]!;
}

/** Finds an extracted kernel in the cache; otherwise downloads the Debian package and extracts it. */
export function ensureKernel(log: (line: string) => void = () => {}): Kernel {
  const dir = cacheDir();
  fs.mkdirSync(dir, { recursive: true });
  const pkg = currentKernelPackageCached(dir);
  const root = path.join(dir, pkg);
  if (!fs.existsSync(path.join(root, '.complete'))) {
    log(`downloading ${pkg} into ${dir}`);
    const work = fs.mkdtempSync(path.join(dir, 'download-'));
    try {
      execFileSync('apt-get', ['download', pkg], { cwd: work, stdio: ['ignore', 'ignore', 'pipe'] });
      const deb = fs.readdirSync(work).find((f) => f.endsWith('.deb'));
      if (!deb) throw new Error(`apt-get download ${pkg} produced no .deb`);
      // Extracted beside the cache entry and renamed into place: a concurrent run never sees half a kernel.
      const staging = path.join(work, 'root');
      execFileSync('dpkg-deb', ['-x', path.join(work, deb), staging]);
      const version = fs.readdirSync(path.join(staging, 'lib/modules'))[0]!;
      execFileSync('depmod', ['-b', staging, version]);
      fs.writeFileSync(path.join(staging, '.complete'), `${pkg}\n`);
      fs.rmSync(root, { recursive: true, force: true });
      try {
        fs.renameSync(staging, root);
      } catch (err) {
        if (!fs.existsSync(path.join(root, '.complete'))) throw err;
      }
    } finally {
      fs.rmSync(work, { recursive: true, force: true });
    }
  }
  const version = fs.readdirSync(path.join(root, 'lib/modules'))[0]!;
  return { version, vmlinuz: path.join(root, 'boot', `vmlinuz-${version}`), root };
}

/** Reuses whatever kernel is cached (offline runs); asks apt only when the cache is empty. */
function currentKernelPackageCached(dir: string): string {
  if (process.env.PIDRIVE_KERNEL_PACKAGE) return process.env.PIDRIVE_KERNEL_PACKAGE;
  const cached = fs
    .readdirSync(dir)
    .filter((f) => f.startsWith('linux-image-') && fs.existsSync(path.join(dir, f, '.complete')))
    .sort();
  return cached.at(-1) ?? currentKernelPackage();
}

const norm = (name: string): string => name.replace(/-/g, '_');

/** Module files (relative to lib/modules/<ver>) in an order insmod accepts: dependencies first. */
export function moduleLoadOrder(kernel: Kernel, wanted: readonly string[] = MODULES): string[] {
  const base = path.join(kernel.root, 'lib/modules', kernel.version);
  const deps = new Map<string, string[]>();
  const byName = new Map<string, string>();
  for (const line of fs.readFileSync(path.join(base, 'modules.dep'), 'utf8').split('\n')) {
    const [file, rest] = line.split(':');
    if (!file || rest === undefined) continue;
    deps.set(file, rest.trim().split(/\s+/).filter(Boolean));
    byName.set(norm(path.basename(file).replace(/\.ko(\.[a-z]+)?$/, '')), file);
  }
  const order: string[] = [];
  const visit = (file: string): void => {
    if (order.includes(file)) return;
    // modules.dep lists dependencies so that the last one must be loaded first.
    for (const dep of [...(deps.get(file) ?? [])].reverse()) visit(dep);
    order.push(file);
  };
  for (const name of wanted) {
    const file = byName.get(norm(name));
    if (file) visit(file); // built-in or absent in this kernel: nothing to load
  }
  return order;
}

function cpioNewc(entries: Array<{ name: string; mode: number; data?: Buffer }>): Buffer {
  const chunks: Buffer[] = [];
  let ino = 1;
  const pad4 = (n: number): Buffer => Buffer.alloc((4 - (n % 4)) % 4);
  const hex = (n: number): string => n.toString(16).padStart(8, '0');
  const push = (name: string, mode: number, data: Buffer): void => {
    const nameBuf = Buffer.from(name + '\0');
    const header =
      '070701' + hex(ino++) + hex(mode) + hex(0) + hex(0) + hex(1) + hex(0) + hex(data.length) +
      hex(0) + hex(0) + hex(0) + hex(0) + hex(nameBuf.length) + hex(0);
    chunks.push(Buffer.from(header), nameBuf, pad4(110 + nameBuf.length), data, pad4(data.length));
  };
  for (const e of entries) push(e.name, e.mode, e.data ?? Buffer.alloc(0));
  push('TRAILER!!!', 0, Buffer.alloc(0));
  return Buffer.concat(chunks);
}

/**
 * 9p under software emulation costs milliseconds per file operation (importing the bridge read
 * thousands of files in ~50 s), so the project and Node are served from read-only ext4 images on
 * virtio disks instead, mounted over their own paths. The Node image is cached per Node version.
 */
function directoryImage(dir: string, out: string): void {
  const bytes = Number(execFileSync('du', ['-sb', dir], { encoding: 'utf8' }).split('\t')[0]);
  const tmp = `${out}.${process.pid}.tmp`;
  fs.rmSync(tmp, { force: true });
  fs.writeFileSync(tmp, '');
  fs.truncateSync(tmp, Math.ceil((bytes * 1.3 + 64 * 2 ** 20) / 2 ** 20) * 2 ** 20);
  execFileSync('mkfs.ext4', ['-q', '-F', '-O', '^has_journal', '-E', 'root_owner=0:0', '-d', dir, tmp], { stdio: ['ignore', 'ignore', 'pipe'] });
  fs.renameSync(tmp, out);
}

function nodeRoot(): string {
  // <prefix>/bin/node is a link into <prefix>/lib/node_modules/node/bin/node: serve that package.
  return path.dirname(path.dirname(fs.realpathSync(process.execPath)));
}

interface DiskImage {
  dir: string;
  image: string;
}

function diskImages(outDir: string): DiskImage[] {
  const node = nodeRoot();
  const nodeImage = path.join(cacheDir(), `node-${process.version}.img`);
  if (!fs.existsSync(nodeImage)) directoryImage(node, nodeImage);
  const projectImage = path.join(outDir, 'project.img');
  directoryImage(PROJECT_DIR, projectImage);
  return [
    { dir: PROJECT_DIR, image: projectImage },
    { dir: node, image: nodeImage },
  ];
}

export interface GuestSpec {
  /** Absolute path (on the host, same inside the guest's chroot) of the .ts script the guest runs. */
  script: string;
  /** Arguments for the script. */
  args?: string[];
  /** Writable host directory mounted at the same path in the guest (results, logs). */
  outDir: string;
  /** Extra environment for the script. */
  env?: Record<string, string>;
}

/** The guest's /init: modules, mounts, then the Node script in a chroot of the host's root. */
function initScript(modules: string[], spec: GuestSpec, disks: DiskImage[]): string {
  const node = process.execPath;
  const env = {
    HOME: os.homedir(),
    PATH: `${path.dirname(node)}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin`,
    LANG: 'C.UTF-8',
    // Compiled code survives between the guest's Node processes (each bridge restart, each CLI call).
    NODE_COMPILE_CACHE: '/tmp/node-compile-cache',
    ...(process.env.CI ? { CI: process.env.CI } : {}),
    ...spec.env,
  };
  const q = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;
  const envArgs = Object.entries(env).map(([k, v]) => q(`${k}=${v}`)).join(' ');
  const cmd = [node, spec.script, ...(spec.args ?? [])].map(q).join(' ');
  return `#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
for m in ${modules.map((m) => q(m)).join(' ')}; do
  insmod "/lib/modules/$m" 2>/dev/null || echo "@@PIDRIVE-INIT insmod failed: $m"
done
mount -t configfs none /sys/kernel/config
mkdir -p /host
mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=512000,cache=loose hostroot /host || echo "@@PIDRIVE-INIT 9p mount failed"
mount -t proc proc /host/proc
mount -t sysfs sys /host/sys
mount -t configfs none /host/sys/kernel/config
mount -t devtmpfs dev /host/dev
mount -t tmpfs -o size=8g tmp /host/tmp
mount -t tmpfs run /host/run
${disks.map((d, i) => `mkdir -p /host${q(d.dir)}; mount -t ext4 -o ro /dev/vd${String.fromCharCode(97 + i)} /host${q(d.dir)} || echo "@@PIDRIVE-INIT mounting ${d.dir} failed"`).join('\n')}
mkdir -p /host${q(spec.outDir)}
mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000 out /host${q(spec.outDir)}
ip link set lo up
echo "@@PIDRIVE-INIT ready $(cut -d' ' -f1 /proc/uptime)"
chroot /host /usr/bin/env -i ${envArgs} ${cmd} > /host${q(spec.outDir)}/guest.log 2>&1
echo "@@PIDRIVE-EXIT $?"
dmesg > /host${q(spec.outDir)}/dmesg.log
sync
umount /host${q(spec.outDir)}
echo o > /proc/sysrq-trigger
sleep 10
`;
}

function buildInitrd(kernel: Kernel, spec: GuestSpec, disks: DiskImage[], out: string): void {
  const modules = moduleLoadOrder(kernel);
  const base = path.join(kernel.root, 'lib/modules', kernel.version);
  const entries: Array<{ name: string; mode: number; data?: Buffer }> = [];
  const dirs = new Set<string>();
  const addDir = (d: string): void => {
    if (d === '.' || dirs.has(d)) return;
    addDir(path.dirname(d));
    dirs.add(d);
    entries.push({ name: d, mode: 0o040755 });
  };
  for (const d of ['bin', 'dev', 'proc', 'sys', 'host', 'tmp']) addDir(d);
  entries.push({ name: 'bin/busybox', mode: 0o100755, data: fs.readFileSync(busyboxPath()) });
  for (const m of modules) {
    addDir(path.dirname(`lib/modules/${m}`));
    entries.push({ name: `lib/modules/${m}`, mode: 0o100644, data: fs.readFileSync(path.join(base, m)) });
  }
  entries.push({ name: 'init', mode: 0o100755, data: Buffer.from(initScript(modules, spec, disks)) });
  fs.writeFileSync(out, zlib.gzipSync(cpioNewc(entries), { level: 1 }));
}

/** A static executable has no PT_INTERP program header (no dynamic loader to find in the initrd). */
function isStatic(file: string): boolean {
  const elf = fs.readFileSync(file);
  if (elf.readUInt32BE(0) !== 0x7f454c46 || elf[4] !== 2) return false; // 64-bit ELF only
  const phoff = Number(elf.readBigUInt64LE(0x20));
  const phentsize = elf.readUInt16LE(0x36);
  const phnum = elf.readUInt16LE(0x38);
  for (let i = 0; i < phnum; i++) if (elf.readUInt32LE(phoff + i * phentsize) === 3) return false;
  return true;
}

function busyboxPath(): string {
  for (const p of ['/bin/busybox', '/usr/bin/busybox']) if (fs.existsSync(p) && isStatic(p)) return p;
  throw new Error('a static busybox is needed (apt-get install busybox-static)');
}

export interface VmResult {
  /** The guest script's exit status; null when it never finished (crash, timeout). */
  guestExit: number | null;
  qemuExit: number | null;
  console: string;
  guestLog: string;
  dmesg: string;
  durationMs: number;
}

/** Boots the guest, waits for it to power off (or kills it at the timeout) and returns its output. */
export async function runGuest(spec: GuestSpec, options: { timeoutMs: number; memoryMb?: number; log?: (line: string) => void }): Promise<VmResult> {
  const kernel = ensureKernel(options.log);
  const initrd = path.join(spec.outDir, 'initrd.gz');
  const disks = diskImages(spec.outDir);
  buildInitrd(kernel, spec, disks, initrd);
  const started = performance.now();
  const args = [
    // One vCPU: with two, multi-threaded TCG (QEMU 7.2) crashed Node in the guest in about one start
    // of four (V8 fatal checks, SIGSEGV); with one, none in the same number of starts.
    '-accel', 'tcg', '-smp', '1', '-m', String(options.memoryMb ?? 2048),
    '-nodefaults', '-display', 'none', '-serial', 'stdio', '-no-reboot',
    '-kernel', kernel.vmlinuz, '-initrd', initrd,
    '-append', 'console=ttyS0 loglevel=3 panic=-1',
    '-virtfs', 'local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap',
    '-virtfs', `local,path=${spec.outDir},mount_tag=out,security_model=none,multidevs=remap`,
    ...disks.flatMap((d) => ['-drive', `file=${d.image},if=virtio,format=raw,readonly=on`]),
  ];
  const child = spawn('qemu-system-x86_64', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let consoleOut = '';
  let pending = '';
  const onData = (d: Buffer): void => {
    consoleOut += d.toString();
    pending += d.toString();
    const lines = pending.split('\n');
    pending = lines.pop()!;
    for (const l of lines) options.log?.(l.replace(/\r$/, ''));
  };
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);
  const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs);
  const qemuExit = await new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  clearTimeout(timer);
  const guestExit = /@@PIDRIVE-EXIT (\d+)/.exec(consoleOut);
  const read = (f: string): string => (fs.existsSync(path.join(spec.outDir, f)) ? fs.readFileSync(path.join(spec.outDir, f), 'utf8') : '');
  return {
    guestExit: guestExit ? Number(guestExit[1]) : null,
    qemuExit,
    console: consoleOut,
    guestLog: read('guest.log'),
    dmesg: read('dmesg.log'),
    durationMs: performance.now() - started,
  };
}

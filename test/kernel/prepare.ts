/**
 * Downloads and extracts the Debian kernel the gadget kernel test boots (cached in
 * ~/.cache/pidrive-kernel, or $PIDRIVE_KERNEL_CACHE), so the test itself needs no network.
 * Usage: node test/kernel/prepare.ts
 */
import { ensureKernel } from './vm.ts';

const kernel = ensureKernel((line) => console.log(line));
console.log(`kernel ${kernel.version} ready: ${kernel.vmlinuz}`);

/** Every check the guest scenario runs; the host-side test fails on any that is missing or failed. */
export const CHECKS = {
  gadgetBuilt: 'the bridge builds a configfs gadget on the UDC and probes the kernel',
  attachCli: 'attach through the CLI: a 64 MiB disk appears on the host',
  bridgeFileOnHost: 'a file put into the image on the bridge side is readable on the host',
  hostWriting: 'host_writing goes true while the host writes',
  hostIdle: 'host_idle after the host stops writing',
  detachNoMedium: 'detach with the host done: method file, then the device reports no medium',
  hostFileInImage: 'a file the host wrote is in the image afterwards',
  readOnly: 'read_only: the host cannot write',
  twoDrives: 'two drives attached at once give two disks',
  ejectMounted: 'detach is refused while the host has it mounted; eject works',
  kill9: 'kill -9 and restart: the attached drive stays served, state right, unknown media removed',
  cdrom: 'cdrom mode with an ISO gives an sr device',
  cdromTooLarge: 'a CD-ROM image over 2.2 GiB is refused',
  stopKeepsBound: 'stopping the bridge leaves the gadget bound and the drive served',
  ladderNoForcedEject: 'eject ladder without forced_eject: soft_connect or rebind',
  ladderRebind: 'eject ladder without forced_eject and soft_connect: rebind',
} as const;

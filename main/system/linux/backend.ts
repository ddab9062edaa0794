/** The Linux network backend: rtnetlink through ./interface.ts. */
import type { NetworkBackend } from '../network-backend.ts';
import * as linuxInterface from './interface.ts';

export const linuxBackend: NetworkBackend = {
  ensureInterface: async (spec, owner) =>
    linuxInterface.ensureInterface(spec, owner === undefined ? {} : { owner }),
  setAddresses: async (name, ips) => {
    linuxInterface.setAddresses(name, ips);
  },
  destroyInterface: async (name) => {
    linuxInterface.destroyInterface(name);
  },
  destroyManagedInterfaces: async (options) => linuxInterface.destroyManagedInterfaces(options),
  findSubnetConflict: async (subnet, ownName) => linuxInterface.findSubnetConflict(subnet, ownName),
};

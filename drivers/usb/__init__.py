"""USB voice modems and telephony adapters: the ID table, discovery through sysfs, reset through pyusb."""

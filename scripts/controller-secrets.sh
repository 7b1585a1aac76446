#!/usr/bin/env bash
# The controller-side secrets a swarm needs before its first run, created once in DIR
# (mode 0700, never in the repository) and left alone afterwards:
#
#   admin_ed25519(.pub)  the admin's SSH key pair (common_admin_ssh_public_keys)
#   backup_ed25519(.pub) the key pair Vault's snapshots are encrypted to (vault_backup_age_recipients
#                        takes the .pub); move the private half to whoever restores (docs/vault.md)
#   pki_ca_passphrase    encrypts the bootstrap CA key (pki_ca_passphrase)
#   vault-password       ansible-vault password file that encrypts Vault's init output
#                        and admin token on the controller (vault_init_password_file)
#
#   scripts/controller-secrets.sh DIR
#
# The lab (scripts/lab.sh) and the `swarm` Molecule scenario call it; a production
# operator makes the same files (docs/inventory.md) and keeps them off the Vault hosts.
set -euo pipefail
dir=${1:?usage: controller-secrets.sh DIR}
umask 077
install -d -m 0700 "$dir"

random_secret() {
  # 48 letters and digits from the operating system's CSPRNG (Python's secrets module).
  python3 -c 'import secrets, string; a = string.ascii_letters + string.digits; print("".join(secrets.choice(a) for _ in range(48)), end="")'
}

[ -f "$dir/admin_ed25519" ] ||
  ssh-keygen -q -t ed25519 -N '' -C orcaqueen-admin -f "$dir/admin_ed25519"
[ -f "$dir/backup_ed25519" ] || [ -f "$dir/backup_ed25519.pub" ] ||
  ssh-keygen -q -t ed25519 -N '' -C orcaqueen-vault-backup -f "$dir/backup_ed25519"
for name in pki_ca_passphrase vault-password; do
  [ -s "$dir/$name" ] || random_secret >"$dir/$name"
done
echo "controller secrets in $dir: admin_ed25519, backup_ed25519, pki_ca_passphrase, vault-password"

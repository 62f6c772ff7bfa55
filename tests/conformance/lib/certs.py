"""The suite's run-time certificates (FORMAT.md section 8), made with the openssl CLI.

Every key is RSA 2048 in PKCS#1 PEM (as upstream's Go code writes them); every certificate is
valid one year. The PEMs are cached in a directory so that traffic steps can use them later.
"""
import base64
import ipaddress
import os
import re
import secrets
import subprocess

CA_SUBJECT = '/C=US/O=Kubernetes Gateway API/CN=gatewayapi'
LEAF_SUBJECT = '/O=Acme Co/CN=default'
CA_SERIAL = 2024
DAYS = 365

_DNS_LABEL = r'[a-z0-9]([-a-z0-9]*[a-z0-9])?'
_DNS_NAME = re.compile(rf'^(\*\.)?{_DNS_LABEL}(\.{_DNS_LABEL})*$', re.IGNORECASE)


class CertError(Exception):
    pass


def classify_hosts(hosts):
    """(dns, ips, uris): where each host name lands among the subject alternative names."""
    dns, ips, uris = [], [], []
    for h in hosts:
        try:
            ipaddress.ip_address(h)
            ips.append(h)
            continue
        except ValueError:
            pass
        (dns if _DNS_NAME.match(h) and len(h) <= 253 else uris).append(h)
    return dns, ips, uris


def openssl_config(entry):
    """An openssl config file with the subject and the v3 extensions of one secrets entry."""
    lines = ['[req]', 'distinguished_name = dn', 'prompt = no', '[dn]', '[ext]']
    if entry.get('ca'):
        lines += ['basicConstraints = critical,CA:TRUE',
                  'keyUsage = critical,digitalSignature,keyCertSign',
                  'extendedKeyUsage = clientAuth,serverAuth']
    else:
        lines += ['basicConstraints = critical,CA:FALSE',
                  'keyUsage = critical,digitalSignature,keyEncipherment']
        eku = {'server': 'serverAuth', 'client': 'clientAuth'}.get(entry.get('usage'))
        if eku:
            lines.append(f'extendedKeyUsage = {eku}')
        dns, ips, uris = classify_hosts(entry.get('hosts') or [])
        sans = [f'DNS:{d}' for d in dns] + [f'IP:{i}' for i in ips] + [f'URI:{u}' for u in uris]
        if sans:
            lines.append('subjectAltName = ' + ','.join(sans))
    return '\n'.join(lines) + '\n'


def _run(args):
    r = subprocess.run(['openssl'] + args, capture_output=True, text=True)
    if r.returncode != 0:
        raise CertError(f'openssl {args[0]} failed: {r.stderr.strip()[:400]}')


class CertStore:
    """Makes and caches the certificates; entries are the `secrets` mappings of _base.yaml."""

    def __init__(self, directory):
        self.dir = directory
        os.makedirs(directory, exist_ok=True)
        self.pems = {}    # NS/NAME -> (cert PEM, key PEM)

    def _paths(self, name):
        stem = os.path.join(self.dir, name.replace('/', '_'))
        return stem + '.crt', stem + '.key', stem + '.cnf'

    def make(self, entry):
        name = entry['name']
        if name in self.pems:
            return self.pems[name]
        crt, key, cnf = self._paths(name)
        if not (os.path.exists(crt) and os.path.exists(key)):
            with open(cnf, 'w') as f:
                f.write(openssl_config(entry))
            _run(['genrsa', '-traditional', '-out', key, '2048'])
            subject = CA_SUBJECT if entry.get('ca') else LEAF_SUBJECT
            serial = str(CA_SERIAL) if entry.get('ca') else '0x' + secrets.token_hex(16)
            issuer = entry.get('issuer', 'self')
            if issuer == 'self':
                _run(['req', '-new', '-x509', '-key', key, '-out', crt, '-days', str(DAYS), '-subj', subject,
                      '-config', cnf, '-extensions', 'ext', '-set_serial', serial])
            else:
                if issuer not in self.pems:
                    raise CertError(f'{name}: issuer {issuer} was not made before it')
                ca_crt, ca_key, _ = self._paths(issuer)
                csr = crt + '.csr'
                _run(['req', '-new', '-key', key, '-out', csr, '-subj', subject, '-config', cnf])
                _run(['x509', '-req', '-in', csr, '-CA', ca_crt, '-CAkey', ca_key, '-out', crt,
                      '-days', str(DAYS), '-set_serial', serial, '-extfile', cnf, '-extensions', 'ext'])
        with open(crt) as f:
            cert_pem = f.read()
        with open(key) as f:
            key_pem = f.read()
        self.pems[name] = (cert_pem, key_pem)
        return self.pems[name]

    def certificate(self, name):
        """'Its certificate' of FORMAT.md section 8 (Secret tls.crt, ConfigMap ca.crt)."""
        return self.pems[name][0]


def secret_object(entry, cert_pem, key_pem):
    """The Secret or ConfigMap holding one generated certificate."""
    ns, name = entry['name'].split('/')
    meta = {'name': name, 'namespace': ns}
    if entry['kind'] == 'Secret':
        b64 = lambda s: base64.b64encode(s.encode()).decode()
        return {'apiVersion': 'v1', 'kind': 'Secret', 'metadata': meta, 'type': 'kubernetes.io/tls',
                'data': {'tls.crt': b64(cert_pem), 'tls.key': b64(key_pem)}}
    values = {'ca.crt': cert_pem, 'key.crt': key_pem}
    keys = entry.get('keys') or ['ca.crt', 'key.crt']
    return {'apiVersion': 'v1', 'kind': 'ConfigMap', 'metadata': meta, 'data': {k: values[k] for k in keys}}

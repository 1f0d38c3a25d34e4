"""The sandbox AWS of the dev stack: moto's server plus the few APIs moto lacks that bulwark calls.

Sandbox support only: this never runs against AWS. devstack/tools.ts starts every moto the project
runs (dev stack, tests, bench, CI) as `python3 devstack/moto_sandbox.py -H … -p …`; it patches
moto's cognito-idp backend in this process, then runs moto's own server unchanged.

Cognito app-client secrets (AddUserPoolClientSecret / ListUserPoolClientSecrets /
DeleteUserPoolClientSecret, added to AWS in 2025) are not implemented by moto 5.2.5 (the pinned
version; 5.2.1 neither). They follow the Amazon Cognito API reference:
  - a confidential client holds at most two secrets; the one it was created with counts;
  - AddUserPoolClientSecret takes an optional custom ClientSecret (24-64 characters of [A-Za-z0-9_+])
    and returns a ClientSecretDescriptor {ClientSecretId "<client-id>--<epoch-create-time>",
    ClientSecretCreateDate}; ClientSecretValue only when Cognito generated the value;
  - ListUserPoolClientSecrets returns every secret's id and create date, never a value;
  - DeleteUserPoolClientSecret cannot delete the last remaining secret;
  - while a client holds two secrets, a SECRET_HASH made with either one is accepted;
    DescribeUserPoolClient reports the oldest remaining one (as moto reports the only one today).
The reference names the error types each call may raise but not which condition raises which; the
choices here are: a third secret -> LimitExceededException; a bad custom value, a client without a
secret, or deleting the last one -> InvalidParameterException; an unknown pool, client or secret
id -> ResourceNotFoundException. Messages never include a secret value.

When moto itself implements these operations, the patch steps aside and moto's own code runs.
"""

import base64
import re
import secrets
import sys
import time
import weakref

from moto.cognitoidp import models, responses
from moto.cognitoidp.exceptions import InvalidParameterException, ResourceNotFoundError
from moto.core.exceptions import JsonRESTError
from moto.core.responses import ActionResult, EmptyResult
from moto.core.utils import utcnow

MAX_SECRETS = 2
CUSTOM_SECRET = re.compile(r"[\w+]{24,64}", re.ASCII)


class LimitExceededException(JsonRESTError):
    def __init__(self, message):
        super().__init__("LimitExceededException", message)


# Client id -> client, so a SECRET_HASH check (which moto makes with the client id and one secret)
# can try every secret of the client. Weak: moto's reset drops clients, and so does this map.
_clients = weakref.WeakValueDictionary()


def _descriptor(client_id, value, taken):
    created = utcnow()
    epoch_ms = int(time.time() * 1000)
    while f"{client_id}--{epoch_ms}" in taken:  # two secrets in one millisecond still get two ids
        epoch_ms += 1
    return {"id": f"{client_id}--{epoch_ms}", "value": value, "created": created}


def _install():
    client_cls = models.CognitoIdpUserPoolClient
    response_cls = responses.CognitoIdpResponse
    if hasattr(response_cls, "add_user_pool_client_secret"):
        return  # moto implements them: use moto's
    original_init = client_cls.__init__

    def __init__(self, *args, **kwargs):
        original_init(self, *args, **kwargs)
        # The secret the client was created with is its first client secret.
        self.client_secrets = [_descriptor(self.id, self.secret, ())] if self.generate_secret else []
        _clients[self.id] = self

    client_cls.__init__ = __init__

    def client_of(backend, user_pool_id, client_id):
        return backend.describe_user_pool_client(user_pool_id, client_id)  # ResourceNotFound for either

    def add_user_pool_client_secret(self):
        client = client_of(self.backend, self._get_param("UserPoolId"), self._get_param("ClientId"))
        custom = self._get_param("ClientSecret")
        if custom is not None and not CUSTOM_SECRET.fullmatch(custom):
            raise InvalidParameterException(
                "1 validation error detected: Value at 'clientSecret' failed to satisfy constraint: "
                "Member must have length between 24 and 64 and match the pattern [\\w+]+"
            )
        if not client.generate_secret:
            raise InvalidParameterException(f"Client {client.id} is not a confidential client: it has no client secret")
        if len(client.client_secrets) >= MAX_SECRETS:
            raise LimitExceededException(f"Client {client.id} already has {MAX_SECRETS} client secrets; delete one before adding another")
        value = custom if custom is not None else base64.b32encode(secrets.token_bytes(32)).decode().rstrip("=").lower()
        d = _descriptor(client.id, value, {s["id"] for s in client.client_secrets})
        client.client_secrets.append(d)
        out = {"ClientSecretId": d["id"], "ClientSecretCreateDate": d["created"]}
        if custom is None:
            out["ClientSecretValue"] = value
        return ActionResult({"ClientSecretDescriptor": out})

    def list_user_pool_client_secrets(self):
        client = client_of(self.backend, self._get_param("UserPoolId"), self._get_param("ClientId"))
        return ActionResult(
            {"ClientSecrets": [{"ClientSecretId": s["id"], "ClientSecretCreateDate": s["created"]} for s in client.client_secrets]}
        )

    def delete_user_pool_client_secret(self):
        client = client_of(self.backend, self._get_param("UserPoolId"), self._get_param("ClientId"))
        secret_id = self._get_param("ClientSecretId")
        if not any(s["id"] == secret_id for s in client.client_secrets):
            raise ResourceNotFoundError(f"Client secret {secret_id} not found")
        if len(client.client_secrets) == 1:
            raise InvalidParameterException(f"Cannot delete the last remaining client secret of client {client.id}")
        client.client_secrets = [s for s in client.client_secrets if s["id"] != secret_id]
        client.secret = client.client_secrets[0]["value"]
        return EmptyResult()

    response_cls.add_user_pool_client_secret = add_user_pool_client_secret
    response_cls.list_user_pool_client_secrets = list_user_pool_client_secrets
    response_cls.delete_user_pool_client_secret = delete_user_pool_client_secret

    original_check = models.check_secret_hash

    def check_secret_hash(app_client_secret, app_client_id, username, secret_hash):
        client = _clients.get(app_client_id)
        values = [s["value"] for s in client.client_secrets] if client is not None else [app_client_secret]
        return any(original_check(v, app_client_id, username, secret_hash) for v in values)

    models.check_secret_hash = check_secret_hash


_install()

if __name__ == "__main__":
    from moto.server import main

    main(sys.argv[1:])

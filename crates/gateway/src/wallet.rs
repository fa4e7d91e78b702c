//! People's password-encrypted keys and credentials, off the ledger. (To be written.)

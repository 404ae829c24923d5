// The vault keys the AWS phase reads and writes. The S3 user's key is stored under the registry
// role's variable names, so the role's prepare hands it over as is.
export const S3_ACCESS_KEY = 'registry_s3_access_key';
export const S3_SECRET_KEY = 'registry_s3_secret_key';
/** Credentials for the AWS APIs themselves, when kept in the vault rather than the environment. */
export const AWS_ACCESS_KEY_ID = 'aws_access_key_id';
export const AWS_SECRET_ACCESS_KEY = 'aws_secret_access_key';

/** A broker URL fit for logs and status: a password written into it (`mqtt://user:secret@host`) is masked. */
export function safeUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (!parsed.password) return url;
    parsed.password = '***';
    return parsed.toString();
  } catch {
    return url.replace(/\/\/[^@/]*@/, '//***@');
  }
}

runtime copy of runtime/php/Sender.php (132 lines); the lines generation adds or changes:
7: namespace Clickstream\Events\Web;
